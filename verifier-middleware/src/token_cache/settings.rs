//! The verified-token cache's bounds, checked when the verifier is built.

use std::time::Duration;

use crate::build_error::{BuildError, Setting};

/// The default memory bound: about 40,000 tokens of 700 bytes (BENCHMARKS.md has the measured
/// bytes per entry).
pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The smallest memory bound accepted.
const MIN_MAX_BYTES: u64 = 64 * 1024;
/// The shortest entry lifetime accepted.
const MIN_MAX_LIFETIME: Duration = Duration::from_secs(1);

/// Bounds of the verified-token cache; set through the builder's `token_cache_*` methods.
#[derive(Debug, Clone)]
pub(crate) struct TokenCacheSettings {
    /// `false` after `disable_token_cache`.
    pub(crate) enabled: bool,
    /// Most tokens held, if bounded by count as well as by bytes.
    pub(crate) max_entries: Option<u64>,
    /// Most (estimated) bytes held: tokens plus their parsed claims.
    pub(crate) max_bytes: u64,
    /// Longest an entry lives, whatever its `exp`.
    pub(crate) max_lifetime: Duration,
}

impl Default for TokenCacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_lifetime: Duration::from_secs(5 * 60),
        }
    }
}

impl TokenCacheSettings {
    /// Refuses bounds too small for a useful cache; a disabled cache has nothing to check.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if !self.enabled {
            return Ok(());
        }
        Setting::TokenCacheMaxEntries.require(self.max_entries != Some(0), "at least 1")?;
        Setting::TokenCacheMaxBytes.require(self.max_bytes >= MIN_MAX_BYTES, "at least 64 KiB")?;
        Setting::TokenCacheMaxLifetime
            .require(self.max_lifetime >= MIN_MAX_LIFETIME, "at least 1 s")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(settings: TokenCacheSettings) -> Option<Setting> {
        match settings.validate() {
            Err(BuildError::InvalidSetting { setting, .. }) => Some(setting),
            _ => None,
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(refused(TokenCacheSettings::default()), None);
    }

    #[test]
    fn a_cache_of_no_entries_is_refused() {
        let settings = TokenCacheSettings {
            max_entries: Some(0),
            ..TokenCacheSettings::default()
        };

        assert_eq!(refused(settings), Some(Setting::TokenCacheMaxEntries));
    }

    #[test]
    fn a_memory_bound_under_64_kib_is_refused() {
        let bytes = |max_bytes| TokenCacheSettings {
            max_bytes,
            ..TokenCacheSettings::default()
        };

        assert_eq!(
            refused(bytes(64 * 1024 - 1)),
            Some(Setting::TokenCacheMaxBytes)
        );
        assert_eq!(refused(bytes(64 * 1024)), None);
    }

    #[test]
    fn a_lifetime_under_a_second_is_refused() {
        let settings = TokenCacheSettings {
            max_lifetime: Duration::from_millis(500),
            ..TokenCacheSettings::default()
        };

        assert_eq!(refused(settings), Some(Setting::TokenCacheMaxLifetime));
    }

    #[test]
    fn a_disabled_cache_is_not_checked() {
        let settings = TokenCacheSettings {
            enabled: false,
            max_entries: Some(0),
            max_bytes: 0,
            max_lifetime: Duration::ZERO,
        };

        assert_eq!(refused(settings), None);
    }
}
