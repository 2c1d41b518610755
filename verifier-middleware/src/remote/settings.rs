//! How every download is made: one HTTP client and a timeout per download, shared by the JWKS
//! and the revocation list, and the URLs they may be given.

use std::time::Duration;

use reqwest::{Client, Url, redirect};

use crate::build_error::{BuildError, Setting};

/// Redirects the default client follows at most.
const MAX_REDIRECTS: usize = 3;

/// The builder's `http_client` and `fetch_timeout`.
#[derive(Debug, Clone)]
pub(crate) struct FetchSettings {
    /// The client given to the builder; the default one once [`fetcher`](Self::fetcher) made it.
    pub(crate) client: Option<Client>,
    /// Timeout of one download (and the default client's connect and request timeouts).
    pub(crate) timeout: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            client: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The client and the per-download timeout a download source uses.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    pub(crate) client: Client,
    pub(crate) timeout: Duration,
}

impl FetchSettings {
    /// Refuses a zero timeout.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        Setting::FetchTimeout.require(!self.timeout.is_zero(), "must be positive")?;
        Ok(())
    }

    /// The checked settings for a download source. Without a client given, the default one is
    /// created on the first call and shared by every later one: one connection pool for the
    /// JWKS and the revocation list.
    pub(crate) fn fetcher(&mut self) -> Result<Fetcher, BuildError> {
        self.validate()?;
        let client = match &self.client {
            Some(client) => client.clone(),
            None => self.client.insert(default_client(self.timeout)?).clone(),
        };
        Ok(Fetcher {
            client,
            timeout: self.timeout,
        })
    }
}

fn default_client(timeout: Duration) -> Result<Client, BuildError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| BuildError::HttpClient(e.to_string()))
}

/// An absolute `http(s)` URL with a host, or why not.
pub(crate) fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("'{raw}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{raw}' is not an http(s) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{raw}' has no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_timeout_is_refused() {
        let mut settings = FetchSettings {
            timeout: Duration::ZERO,
            ..FetchSettings::default()
        };

        assert_eq!(
            settings.fetcher().unwrap_err(),
            BuildError::invalid(Setting::FetchTimeout, "must be positive")
        );
    }

    #[test]
    fn the_default_client_is_created_once_and_shared() {
        let mut settings = FetchSettings::default();

        let first = settings.fetcher().unwrap();
        let second = settings.fetcher().unwrap();

        assert!(settings.client.is_some());
        assert_eq!(first.timeout, Duration::from_secs(5));
        assert_eq!(second.timeout, first.timeout);
    }

    #[test]
    fn only_absolute_http_urls_with_a_host_are_accepted() {
        for bad in [
            "ftp://issuer.test/jwks.json",
            "file:///etc/passwd",
            "not a url",
            "/jwks.json",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
        assert!(parse_http_url("https://issuer.test/jwks.json").is_ok());
        assert!(parse_http_url("http://127.0.0.1:3000/revoked-sessions").is_ok());
    }
}
