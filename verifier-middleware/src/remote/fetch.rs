//! One download: bounded in time and size, conditional on an `ETag`, with the server's
//! `Cache-Control` read.

use std::time::Duration;

use http::header::{ACCEPT, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, StatusCode};
use reqwest::{Client, Url};

use super::settings::Fetcher;

/// Where a document is downloaded from, and the bounds of each download.
#[derive(Debug)]
pub(crate) struct Endpoint {
    url: Url,
    /// The URL without credentials or query, for logs.
    display: String,
    client: Client,
    timeout: Duration,
    max_bytes: usize,
    accept: &'static str,
}

/// A downloaded document.
#[derive(Debug)]
pub(crate) struct Document {
    /// The body; `None` when the server answered `304 Not Modified` to our `ETag`.
    pub(crate) body: Option<Vec<u8>>,
    /// From `Cache-Control`: `max-age`, or zero for `no-cache`/`no-store`.
    pub(crate) max_age: Option<Duration>,
    /// The validator to send next time.
    pub(crate) etag: Option<String>,
}

/// Why a download gave nothing usable. `Display` is for logs: it names no secrets (the URL is
/// logged separately, without credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Request(&'static str),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the response exceeds {0} bytes")]
    TooLarge(usize),
    /// The body arrived but is not what was expected.
    #[error("{0}")]
    Unusable(&'static str),
    /// The same, with details from the document (OpenID discovery: the issuer it names).
    #[error("{0}")]
    Invalid(String),
}

impl Endpoint {
    pub(crate) fn new(url: Url, fetcher: Fetcher, max_bytes: usize, accept: &'static str) -> Self {
        let display = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path();
        Self {
            url,
            display,
            client: fetcher.client,
            timeout: fetcher.timeout,
            max_bytes,
            accept,
        }
    }

    /// The URL for logs: scheme, host, port and path only.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// Downloads the document, sending `If-None-Match` when an `etag` is known.
    pub(crate) async fn get(&self, etag: Option<&str>) -> Result<Document, FetchError> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, self.accept)
            .timeout(self.timeout);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Request(describe(&e)))?;
        let max_age = max_age(response.headers());
        let new_etag = response
            .headers()
            .get(ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if response.status() == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Document {
                body: None,
                max_age,
                etag: new_etag.or_else(|| etag.map(str::to_owned)),
            });
        }
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Request(describe(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Document {
            body: Some(body),
            max_age,
            etag: new_etag,
        })
    }
}

/// reqwest's `Display` includes the URL, which may carry credentials; say what kind of
/// failure it was instead.
fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read"
    } else {
        "the request failed"
    }
}

/// The freshness lifetime the server gives: `max-age=N`, or zero for `no-cache`/`no-store`
/// (the caller clamps it to its bounds).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=")
                && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
            {
                max_age = Some(Duration::from_secs(seconds));
            }
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(
            max_age(&headers(&["public, max-age=300, must-revalidate"])),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            max_age(&headers(&["public", "Max-Age=\"60\""])),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn no_cache_and_no_store_mean_zero() {
        assert_eq!(
            max_age(&headers(&["max-age=300", "no-store"])),
            Some(Duration::ZERO)
        );
        assert_eq!(max_age(&headers(&["no-cache"])), Some(Duration::ZERO));
    }

    #[test]
    fn without_a_usable_directive_there_is_no_max_age() {
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(max_age(&headers(&["public, max-age=soon"])), None);
    }

    #[test]
    fn the_display_url_drops_credentials_and_query() {
        let url = Url::parse("https://user:pw@auth.example.com:8443/jwks?token=s3cret").unwrap();
        let fetcher = Fetcher {
            client: Client::new(),
            timeout: Duration::from_secs(1),
        };
        let endpoint = Endpoint::new(url, fetcher, 1024, "*/*");
        assert_eq!(endpoint.display(), "https://auth.example.com:8443/jwks");
    }
}
