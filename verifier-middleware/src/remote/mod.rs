//! What the JWKS cache and the revocation list share: an [`Endpoint`] to download a small
//! document from (bounded in time and size, conditional with `ETag`, errors that never echo a
//! URL's credentials), a [`SingleFlight`] so one download runs at a time in its own task, the
//! retry [`Backoff`], and the [`FetchSettings`] (client and timeout) every download uses.

mod fetch;
mod flight;
mod settings;

use std::time::Duration;

pub(crate) use self::fetch::{Document, Endpoint, FetchError};
pub(crate) use self::flight::{SingleFlight, wait};
pub(crate) use self::settings::{FetchSettings, Fetcher, parse_http_url};

/// Retry delays after failed downloads: `first`, doubling per consecutive failure up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// The delay before retry number `failures` (1-based).
    pub(crate) fn delay(self, failures: u32) -> Duration {
        self.first
            .saturating_mul(1 << failures.saturating_sub(1).min(20))
            .min(self.max)
    }

    /// Whether the first delay is positive and at most the longest.
    pub(crate) fn is_valid(self) -> bool {
        !self.first.is_zero() && self.first <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        };
        let delays: Vec<u64> = (1..=10).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff.delay(u32::MAX), backoff.max);
    }

    #[test]
    fn a_backoff_needs_a_positive_first_delay_at_most_the_longest() {
        let second = Duration::from_secs(1);
        let backoff = |first, max| Backoff { first, max };

        assert!(backoff(second, second).is_valid());
        assert!(!backoff(Duration::ZERO, second).is_valid());
        assert!(!backoff(2 * second, second).is_valid());
    }
}
