//! The JWKS cache's settings, checked when the verifier is built.

use std::time::Duration;

use crate::build_error::{BuildError, Setting};
use crate::remote::Backoff;

/// The smallest response cap accepted: a JWKS with a single RSA-2048 key is about 500 bytes.
const MIN_RESPONSE_BYTES: usize = 1024;

/// The default lower bound on how long a downloaded JWKS is cached, whatever its `max-age`
/// (see [`VerifierBuilder::jwks_ttl_bounds`](crate::VerifierBuilder::jwks_ttl_bounds)). An issuer
/// that publishes a new key ahead of signing with it waits at least this long.
pub const DEFAULT_JWKS_MIN_TTL: Duration = Duration::from_secs(60);

/// Tuning for the remote JWKS cache; set through the builder's `jwks_*` methods. The per-download
/// timeout is the shared [`FetchSettings`](crate::remote::FetchSettings) one.
#[derive(Debug, Clone)]
pub(crate) struct JwksSettings {
    /// Lifetime when the server sends no `max-age`.
    pub(crate) ttl: Duration,
    /// Lower bound on the lifetime, whatever the server says (also bounds refetch rate).
    pub(crate) min_ttl: Duration,
    /// Upper bound on the lifetime.
    pub(crate) max_ttl: Duration,
    /// How long past expiry the last good keys keep serving while fetches fail.
    pub(crate) max_stale: Duration,
    /// Minimum time between two refetches caused by unknown `kid`s.
    pub(crate) unknown_kid_cooldown: Duration,
    /// Largest JWKS response read.
    pub(crate) max_response_bytes: usize,
    /// Retry delays after failed downloads (of the revocation list too).
    pub(crate) retry_backoff: Backoff,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10 * 60),
            min_ttl: DEFAULT_JWKS_MIN_TTL,
            max_ttl: Duration::from_secs(24 * 60 * 60),
            max_stale: Duration::from_secs(24 * 60 * 60),
            unknown_kid_cooldown: Duration::from_secs(30),
            max_response_bytes: 256 * 1024,
            retry_backoff: Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(5 * 60),
            },
        }
    }
}

impl JwksSettings {
    /// Refuses bounds that contradict each other and a response cap too small for a key.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        Setting::JwksTtlBounds.require(
            !self.min_ttl.is_zero() && self.min_ttl <= self.max_ttl,
            "min must be positive and at most max",
        )?;
        Setting::JwksRetryBackoff.require(
            self.retry_backoff.is_valid(),
            "first must be positive and at most max",
        )?;
        Setting::JwksMaxResponseBytes.require(
            self.max_response_bytes >= MIN_RESPONSE_BYTES,
            "at least 1 KiB",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(settings: JwksSettings) -> Option<Setting> {
        match settings.validate() {
            Err(BuildError::InvalidSetting { setting, .. }) => Some(setting),
            _ => None,
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(JwksSettings::default().validate(), Ok(()));
    }

    #[test]
    fn ttl_bounds_need_a_positive_minimum_at_most_the_maximum() {
        let minute = Duration::from_secs(60);
        let bounds = |min_ttl, max_ttl| JwksSettings {
            min_ttl,
            max_ttl,
            ..JwksSettings::default()
        };

        assert_eq!(
            refused(bounds(10 * minute, minute)),
            Some(Setting::JwksTtlBounds)
        );
        assert_eq!(
            refused(bounds(Duration::ZERO, minute)),
            Some(Setting::JwksTtlBounds)
        );
        assert_eq!(refused(bounds(minute, minute)), None);
    }

    #[test]
    fn a_retry_backoff_without_a_positive_first_delay_is_refused() {
        let settings = JwksSettings {
            retry_backoff: Backoff {
                first: Duration::ZERO,
                max: Duration::from_secs(1),
            },
            ..JwksSettings::default()
        };

        assert_eq!(refused(settings), Some(Setting::JwksRetryBackoff));
    }

    #[test]
    fn a_response_cap_under_1_kib_is_refused() {
        let cap = |max_response_bytes| JwksSettings {
            max_response_bytes,
            ..JwksSettings::default()
        };

        assert_eq!(refused(cap(1023)), Some(Setting::JwksMaxResponseBytes));
        assert_eq!(refused(cap(1024)), None);
    }
}
