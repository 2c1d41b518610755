//! [`BuildError`]: configuration the builder refuses, and the [`Setting`] it names.

use std::fmt;

use crate::secret::MIN_SECRET_BYTES;

/// Configuration the builder refuses. `Display` is one line saying what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a JWKS URL, a public key nor an HS256 secret was given.
    #[error("no key source: set a JWKS URL, a public key or an HS256 secret")]
    NoKeySource,
    /// More than one of a JWKS URL, an OpenID issuer, an in-process JWKS and a static public
    /// key was given.
    #[error(
        "more than one public-key source (JWKS URL, OpenID issuer, in-process JWKS, static key); choose one"
    )]
    ConflictingKeySources,
    /// The JWKS URL is not an absolute `http(s)` URL.
    #[error("invalid JWKS URL: {0}")]
    InvalidJwksUrl(String),
    /// The [`oidc_issuer`](crate::VerifierBuilder::oidc_issuer) is not an absolute `https` URL
    /// (or `http` on loopback), or has a query or fragment.
    #[error("invalid OpenID issuer URL: {0}")]
    InvalidIssuerUrl(String),
    /// The revocation list URL is not an absolute `http(s)` URL.
    #[error("invalid revocation list URL: {0}")]
    InvalidRevocationUrl(String),
    /// The static public key could not be read or is unacceptable.
    #[error("invalid public key: {0}")]
    InvalidKey(String),
    /// The HS256 secret is too short.
    #[error("the HS256 secret is {0} bytes; use at least {MIN_SECRET_BYTES} random bytes")]
    WeakSecret(usize),
    /// An empty list of public-key algorithms.
    #[error("no public-key algorithms are allowed; keep the default or list at least one")]
    NoAlgorithms,
    /// No issuer, and no explicit opt-out.
    #[error(
        "no issuer configured: call .issuer(..) with the expected iss, or .insecure_skip_issuer_check()"
    )]
    MissingIssuer,
    /// No audience, and no explicit opt-out.
    #[error(
        "no audience configured: call .audience(..) with the expected aud, or .insecure_skip_audience_check()"
    )]
    MissingAudience,
    /// A setting outside its bounds.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting, named after its builder method.
        setting: Setting,
        /// What is wrong.
        reason: &'static str,
    },
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    HttpClient(String),
}

impl BuildError {
    pub(crate) fn invalid(setting: Setting, reason: &'static str) -> Self {
        Self::InvalidSetting { setting, reason }
    }
}

/// A builder setting that has bounds, as [`BuildError::InvalidSetting`] names it. `Display` is
/// the name of the [`VerifierBuilder`](crate::VerifierBuilder) method that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`issuer`](crate::VerifierBuilder::issuer): not empty.
    Issuer,
    /// [`audience`](crate::VerifierBuilder::audience): not empty.
    Audience,
    /// [`leeway`](crate::VerifierBuilder::leeway): at most [`MAX_LEEWAY`](crate::MAX_LEEWAY).
    Leeway,
    /// [`role_claims`](crate::VerifierBuilder::role_claims): JSON pointers, at least one.
    RoleClaims,
    /// [`max_token_bytes`](crate::VerifierBuilder::max_token_bytes).
    MaxTokenBytes,
    /// [`fetch_timeout`](crate::VerifierBuilder::fetch_timeout): positive.
    FetchTimeout,
    /// [`jwks_ttl_bounds`](crate::VerifierBuilder::jwks_ttl_bounds): a positive minimum, at
    /// most the maximum.
    JwksTtlBounds,
    /// [`jwks_retry_backoff`](crate::VerifierBuilder::jwks_retry_backoff): a positive first
    /// delay, at most the longest.
    JwksRetryBackoff,
    /// [`jwks_max_response_bytes`](crate::VerifierBuilder::jwks_max_response_bytes).
    JwksMaxResponseBytes,
    /// [`revocation_poll_interval`](crate::VerifierBuilder::revocation_poll_interval).
    RevocationPollInterval,
    /// [`revocation_max_response_bytes`](crate::VerifierBuilder::revocation_max_response_bytes).
    RevocationMaxResponseBytes,
    /// [`token_cache_max_entries`](crate::VerifierBuilder::token_cache_max_entries).
    TokenCacheMaxEntries,
    /// [`token_cache_max_bytes`](crate::VerifierBuilder::token_cache_max_bytes).
    TokenCacheMaxBytes,
    /// [`token_cache_max_lifetime`](crate::VerifierBuilder::token_cache_max_lifetime).
    TokenCacheMaxLifetime,
}

impl Setting {
    /// `Ok` when the setting's value is within its bounds (`within`), else the error naming
    /// it and `reason`: one line a bound in each subsystem's `validate`.
    pub(crate) fn require(self, within: bool, reason: &'static str) -> Result<(), BuildError> {
        if within {
            Ok(())
        } else {
            Err(BuildError::invalid(self, reason))
        }
    }

    /// The name of the builder method that sets it, e.g. `fetch_timeout`.
    pub fn method(self) -> &'static str {
        match self {
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Leeway => "leeway",
            Self::RoleClaims => "role_claims",
            Self::MaxTokenBytes => "max_token_bytes",
            Self::FetchTimeout => "fetch_timeout",
            Self::JwksTtlBounds => "jwks_ttl_bounds",
            Self::JwksRetryBackoff => "jwks_retry_backoff",
            Self::JwksMaxResponseBytes => "jwks_max_response_bytes",
            Self::RevocationPollInterval => "revocation_poll_interval",
            Self::RevocationMaxResponseBytes => "revocation_max_response_bytes",
            Self::TokenCacheMaxEntries => "token_cache_max_entries",
            Self::TokenCacheMaxBytes => "token_cache_max_bytes",
            Self::TokenCacheMaxLifetime => "token_cache_max_lifetime",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_setting_is_named_by_its_builder_method() {
        let error = BuildError::invalid(Setting::RevocationPollInterval, "at least 1 s");

        assert_eq!(
            error.to_string(),
            "invalid setting revocation_poll_interval: at least 1 s"
        );
    }

    #[test]
    fn a_weak_secret_names_the_minimum() {
        assert_eq!(
            BuildError::WeakSecret(31).to_string(),
            format!("the HS256 secret is 31 bytes; use at least {MIN_SECRET_BYTES} random bytes")
        );
    }
}
