//! OpenID Connect Discovery (and RFC 8414): where an issuer's JWKS is, read from its
//! `/.well-known/openid-configuration`, whose `issuer` must be the configured one exactly.
//!
//! The document is fetched by the JWKS cache's own download (so with its single flight,
//! timeout, size cap and backoff) the first time keys are needed; until it succeeds the layer
//! answers 503, as with a cold JWKS. Its `jwks_uri` is then kept for the life of the verifier.

use std::net::IpAddr;
use std::sync::OnceLock;

use reqwest::Url;
use serde_json::Value;

use crate::remote::{Endpoint, FetchError, Fetcher, parse_http_url};

/// The JWKS a discovery document points to, looked up once.
pub(crate) struct Discovery {
    /// The configured issuer, compared exactly with the document's `issuer`.
    issuer: String,
    document: Endpoint,
    allow_http: bool,
    fetcher: Fetcher,
    max_bytes: usize,
    jwks: OnceLock<Endpoint>,
}

/// `https` anywhere, `http` only on a loopback host unless `allow_http`.
pub(crate) fn require_https(url: &Url, allow_http: bool) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "https" || allow_http || loopback {
        Ok(())
    } else {
        Err(format!(
            "'{url}' is not https; plain http is allowed only on a loopback host, or after insecure_allow_http()"
        ))
    }
}

/// The discovery document's URL for `issuer` (OpenID Connect Discovery 1.0 section 4: the
/// issuer, without a trailing `/`, followed by `/.well-known/openid-configuration`).
pub(crate) fn document_url(issuer: &str, allow_http: bool) -> Result<Url, String> {
    let url = parse_http_url(issuer)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{issuer}' has a query or fragment, which an issuer may not"
        ));
    }
    require_https(&url, allow_http)?;
    let document = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    parse_http_url(&document)
}

impl Discovery {
    pub(crate) fn new(
        issuer: String,
        document: Url,
        allow_http: bool,
        fetcher: Fetcher,
        max_bytes: usize,
    ) -> Self {
        Self {
            issuer,
            document: Endpoint::new(document, fetcher.clone(), max_bytes, "application/json"),
            allow_http,
            fetcher,
            max_bytes,
            jwks: OnceLock::new(),
        }
    }

    /// Where to log: the JWKS once known, the discovery document before.
    pub(crate) fn display(&self) -> &str {
        self.jwks.get().unwrap_or(&self.document).display()
    }

    /// The JWKS endpoint, reading the discovery document the first time.
    pub(crate) async fn jwks(&self) -> Result<&Endpoint, FetchError> {
        if let Some(endpoint) = self.jwks.get() {
            return Ok(endpoint);
        }
        let document = self.document.get(None).await?;
        let body = document.body.ok_or(FetchError::Unusable(
            "the server answered 304 to an unconditional request",
        ))?;
        let url = jwks_uri(&body, &self.issuer, self.allow_http)?;
        let endpoint = Endpoint::new(
            url,
            self.fetcher.clone(),
            self.max_bytes,
            "application/jwk-set+json, application/json",
        );
        tracing::info!(
            issuer = %self.issuer,
            jwks = %endpoint.display(),
            "OpenID discovery: JWKS located"
        );
        Ok(self.jwks.get_or_init(|| endpoint))
    }
}

/// The `jwks_uri` of a discovery document whose `issuer` is exactly `issuer`; `https` unless
/// on loopback or `allow_http`.
pub(crate) fn jwks_uri(body: &[u8], issuer: &str, allow_http: bool) -> Result<Url, FetchError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|_| FetchError::Unusable("the discovery document is not JSON"))?;
    match document.get("issuer") {
        Some(Value::String(named)) if named == issuer => {}
        Some(Value::String(named)) => {
            return Err(FetchError::Invalid(format!(
                "the discovery document names issuer '{named}', not the configured '{issuer}'"
            )));
        }
        _ => return Err(FetchError::Unusable("the discovery document has no issuer")),
    }
    let Some(Value::String(jwks_uri)) = document.get("jwks_uri") else {
        return Err(FetchError::Unusable(
            "the discovery document has no jwks_uri",
        ));
    };
    parse_http_url(jwks_uri)
        .and_then(|url| require_https(&url, allow_http).map(|()| url))
        .map_err(|reason| FetchError::Invalid(format!("its jwks_uri {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_url_follows_the_issuer_with_or_without_a_trailing_slash() {
        for issuer in [
            "https://idp.example.com/realms/shop",
            "https://idp.example.com/realms/shop/",
        ] {
            assert_eq!(
                document_url(issuer, false).unwrap().as_str(),
                "https://idp.example.com/realms/shop/.well-known/openid-configuration"
            );
        }
        assert_eq!(
            document_url("https://accounts.example.com", false)
                .unwrap()
                .as_str(),
            "https://accounts.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        assert!(document_url("http://idp.example.com", false).is_err());
        assert!(document_url("http://idp.example.com", true).is_ok());
        for loopback in [
            "http://localhost:8080",
            "http://127.0.0.1:1",
            "http://[::1]:9",
        ] {
            assert!(document_url(loopback, false).is_ok(), "{loopback}");
        }
        assert!(document_url("https://idp.example.com?tenant=a", false).is_err());
        assert!(document_url("ftp://idp.example.com", true).is_err());
    }
}
