//! What the JWKS cache and the revocation list share: an [`Endpoint`] to download a small
//! document from (bounded in time and size, conditional with `ETag`, errors that never echo a
//! URL's credentials), a [`SingleFlight`] so one download runs at a time in its own task, and
//! the retry [`backoff`].

mod fetch;
mod flight;

use std::time::Duration;

pub(crate) use self::fetch::{Document, Endpoint, FetchError};
pub(crate) use self::flight::{SingleFlight, wait};

/// The delay before retry number `failures` (1-based): `base` doubling up to `max`.
pub(crate) fn backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    base.saturating_mul(1 << failures.saturating_sub(1).min(20))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(300));
        let delays: Vec<u64> = (1..=10).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }
}
