//! Back-off for repeated failed logins, per account and per client address.
//!
//! After `free_attempts` consecutive failures a key is blocked for `base_delay`, doubling with
//! each further failure up to `max_delay`. A success clears the account's count. There is no
//! permanent lock-out, so an attacker cannot lock a victim out for longer than `max_delay` at a
//! time. Counts live in this process's memory (bounded, idle entries expire after an hour);
//! replicas each keep their own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;

use crate::clock::Clock;

/// How failures turn into delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed per account before delays start.
    pub account_free_attempts: u32,
    /// Failures allowed per client address before delays start (higher: many users share NATs).
    pub client_free_attempts: u32,
    /// First delay.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            account_free_attempts: 5,
            client_free_attempts: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

/// Whose failures are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A normalised e-mail address (whether or not an account exists: no oracle).
    Account(String),
    /// A client address.
    Client(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Option<SystemTime>,
}

/// Counts failed logins and says how long a key must wait.
#[derive(Clone)]
pub struct LoginThrottle {
    failures: Cache<ThrottleKey, Failures>,
    policy: ThrottlePolicy,
    clock: Arc<dyn Clock>,
}

impl LoginThrottle {
    /// A throttle with no failures recorded.
    pub fn new(policy: ThrottlePolicy, clock: Arc<dyn Clock>) -> Self {
        let failures = Cache::builder()
            .max_capacity(100_000)
            .time_to_idle(Duration::from_secs(3600).max(policy.max_delay))
            .build();
        Self {
            failures,
            policy,
            clock,
        }
    }

    /// `Err(wait)` when any of `keys` is blocked; `wait` is the longest remaining delay.
    pub fn check(&self, keys: &[ThrottleKey]) -> Result<(), Duration> {
        let now = self.clock.now();
        let wait = keys
            .iter()
            .filter_map(|key| self.failures.get(key)?.blocked_until)
            .filter_map(|until| until.duration_since(now).ok())
            .filter(|remaining| !remaining.is_zero())
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Counts one failure against each key.
    pub fn record_failure(&self, keys: &[ThrottleKey]) {
        let now = self.clock.now();
        for key in keys {
            let free = match key {
                ThrottleKey::Account(_) => self.policy.account_free_attempts,
                ThrottleKey::Client(_) => self.policy.client_free_attempts,
            };
            self.failures.entry(key.clone()).and_upsert_with(|entry| {
                let count = entry.map_or(0, |e| e.into_value().count).saturating_add(1);
                let blocked_until = (count >= free).then(|| now + self.delay_after(count - free));
                Failures {
                    count,
                    blocked_until,
                }
            });
        }
    }

    /// Forgets the failures of each key.
    pub fn record_success(&self, keys: &[ThrottleKey]) {
        for key in keys {
            self.failures.invalidate(key);
        }
    }

    fn delay_after(&self, excess: u32) -> Duration {
        let factor = 2u32.saturating_pow(excess.min(31));
        self.policy
            .base_delay
            .saturating_mul(factor)
            .min(self.policy.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn throttle() -> (LoginThrottle, ManualClock) {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let policy = ThrottlePolicy {
            account_free_attempts: 3,
            ..ThrottlePolicy::default()
        };
        (LoginThrottle::new(policy, Arc::new(clock.clone())), clock)
    }

    fn alice() -> Vec<ThrottleKey> {
        vec![ThrottleKey::Account("alice@example.com".into())]
    }

    #[test]
    fn failures_below_the_free_allowance_do_not_block() {
        let (throttle, _) = throttle();
        throttle.record_failure(&alice());
        throttle.record_failure(&alice());
        assert_eq!(throttle.check(&alice()), Ok(()));
    }

    #[test]
    fn reaching_the_allowance_blocks_for_the_base_delay() {
        let (throttle, _) = throttle();
        (0..3).for_each(|_| throttle.record_failure(&alice()));
        assert_eq!(throttle.check(&alice()), Err(Duration::from_secs(1)));
    }

    #[test]
    fn each_further_failure_doubles_the_delay() {
        let (throttle, _) = throttle();
        (0..5).for_each(|_| throttle.record_failure(&alice()));
        assert_eq!(throttle.check(&alice()), Err(Duration::from_secs(4)));
    }

    #[test]
    fn the_delay_is_capped() {
        let (throttle, _) = throttle();
        (0..100).for_each(|_| throttle.record_failure(&alice()));
        assert_eq!(throttle.check(&alice()), Err(Duration::from_secs(15 * 60)));
    }

    #[test]
    fn a_block_ends_when_its_delay_has_passed() {
        let (throttle, clock) = throttle();
        (0..3).for_each(|_| throttle.record_failure(&alice()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(throttle.check(&alice()), Ok(()));
    }

    #[test]
    fn a_success_clears_the_count() {
        let (throttle, _) = throttle();
        (0..3).for_each(|_| throttle.record_failure(&alice()));
        throttle.record_success(&alice());
        throttle.record_failure(&alice());
        assert_eq!(throttle.check(&alice()), Ok(()));
    }

    #[test]
    fn other_accounts_are_not_affected() {
        let (throttle, _) = throttle();
        (0..3).for_each(|_| throttle.record_failure(&alice()));
        assert_eq!(
            throttle.check(&[ThrottleKey::Account("bob@example.com".into())]),
            Ok(())
        );
    }
}
