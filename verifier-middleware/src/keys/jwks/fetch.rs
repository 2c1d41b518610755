//! One JWKS download: bounded in time and size, with the server's `Cache-Control` read.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;
use jsonwebtoken::Algorithm;
use reqwest::{Client, Url};

use crate::keys::jwk::SkippedKey;
use crate::keys::{KeySet, parse_jwks};

/// A downloaded key set.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    pub(crate) skipped: Vec<SkippedKey>,
    /// From `Cache-Control`: `max-age`, or zero for `no-cache`/`no-store`.
    pub(crate) max_age: Option<Duration>,
}

/// Why a download gave no keys. `Display` is for logs: it names no secrets (the URL is
/// logged separately, without credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Request(String),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the response exceeds {0} bytes")]
    TooLarge(usize),
    #[error("the response is not a JWKS document")]
    NotAJwks,
    #[error("the JWKS holds no usable key")]
    NoUsableKey,
}

/// Downloads and reads the JWKS at `url`.
pub(crate) async fn fetch(
    client: &Client,
    url: &Url,
    timeout: Duration,
    max_bytes: usize,
    algorithms: &Arc<[Algorithm]>,
) -> Result<Fetched, FetchError> {
    let mut response = client
        .get(url.clone())
        .header(
            http::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| FetchError::Request(describe(&e)))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let max_age = max_age(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Request(describe(&e)))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    let (keys, skipped) = parse_jwks(&body, algorithms).map_err(|_| FetchError::NotAJwks)?;
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(Fetched {
        keys,
        skipped,
        max_age,
    })
}

/// reqwest's `Display` includes the URL, which may carry credentials; say what kind of
/// failure it was instead.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read"
    } else {
        "the request failed"
    };
    kind.to_owned()
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
}
