//! The value parsers every settings group uses; each error names the variable.

use std::time::Duration;

/// A configuration value that cannot be used. `Display` is the one line shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value of the wrong form.
    #[error("invalid {var}: {reason}")]
    Invalid {
        /// The environment variable (the flag has the same name).
        var: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A variable that the chosen mode needs is unset.
    #[error("{var} is required: {reason}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// Why it is needed.
        reason: &'static str,
    },
}

/// A [`ConfigError::Invalid`] for `var`.
pub(super) fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// A duration of at least one second (`900s`, `15m`, `14d`).
pub(super) fn parse_ttl(var: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let ttl = humantime::parse_duration(raw).map_err(|_| {
        invalid(
            var,
            format!("'{raw}' is not a duration (e.g. 900s, 15m, 14d)"),
        )
    })?;
    if ttl < Duration::from_secs(1) {
        return Err(invalid(var, "must be at least 1s"));
    }
    Ok(ttl)
}

/// A duration of at least one second, or `None` for `off` (or empty).
pub(super) fn parse_optional_ttl(
    var: &'static str,
    raw: &str,
) -> Result<Option<Duration>, ConfigError> {
    match raw {
        "off" | "" => Ok(None),
        ttl => parse_ttl(var, ttl).map(Some),
    }
}

/// `true` or `false`.
pub(super) fn parse_bool(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(var, format!("'{raw}' is not true or false"))),
    }
}

/// Whether `issuer` is an `https://` URL on a host other than this one: what production looks
/// like, where the development-only providers (they log secrets) are refused.
pub(super) fn is_public_https(issuer: &str) -> bool {
    issuer.strip_prefix("https://").is_some_and(|rest| {
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.split_once(']') {
            Some((ipv6, _)) => ipv6.trim_start_matches('['),
            None => authority.split(':').next().unwrap_or_default(),
        };
        !matches!(host, "localhost" | "127.0.0.1" | "::1")
    })
}

/// A whole number of at least `min`.
pub(super) fn parse_count(var: &'static str, raw: &str, min: u32) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(count) if count >= min => Ok(count),
        _ => Err(invalid(
            var,
            format!("'{raw}' is not a whole number of at least {min}"),
        )),
    }
}
