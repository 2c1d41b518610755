//! Back-off for repeated failed logins, per account and per client address, shared by every
//! issuer replica through the database.
//!
//! After `free_attempts` consecutive failures a key is blocked for `base_delay`, doubling with
//! each further failure up to `max_delay`; attempts during a block are answered 429 with
//! `Retry-After` and are not checked (so they cannot guess, and do not extend the block). A
//! success clears the account's count. There is no permanent lock-out: a block never outlasts
//! `max_delay`, so an attacker cannot lock a victim out for longer than that at a time. A
//! count is forgotten after `forget_after` without failures.
//!
//! Client addresses are counted per IPv4 address and per IPv6 /64 (one subscriber's usual
//! allocation), so rotating through one's own IPv6 prefix does not reset the count.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::domain::Email;
use crate::sessions::seconds;
use crate::storage::{Store, StoreError};

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
    /// A count with no failure for this long starts again from zero.
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            account_free_attempts: 5,
            client_free_attempts: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
        }
    }
}

impl ThrottlePolicy {
    /// The delay after `failures` consecutive failures of a key allowed `free` of them.
    pub fn delay_after(&self, failures: u32, free: u32) -> Option<Duration> {
        let excess = failures.checked_sub(free)?;
        let factor = 2u32.saturating_pow(excess.min(31));
        Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }
}

/// Whose failures are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A normalised e-mail address (whether or not an account exists: no oracle).
    Account(Email),
    /// A client address.
    Client(IpAddr),
}

impl ThrottleKey {
    /// The key as stored: `account:<email>`, `client:<ipv4>` or `client:<ipv6 /64>`.
    pub fn storage_key(&self) -> String {
        match self {
            Self::Account(email) => format!("account:{}", email.as_str()),
            Self::Client(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => format!("client:{v4}"),
                IpAddr::V6(v6) => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    format!("client:{}/64", std::net::Ipv6Addr::from(prefix))
                }
            },
        }
    }

    fn free_attempts(&self, policy: &ThrottlePolicy) -> u32 {
        match self {
            Self::Account(_) => policy.account_free_attempts,
            Self::Client(_) => policy.client_free_attempts,
        }
    }
}

/// What [`LoginThrottle::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt may be checked.
    Allowed {
        /// Whether the account has failures counted: only then does a successful login need
        /// [`LoginThrottle::record_success`] (most logins write nothing to the table).
        account_failures: bool,
    },
    /// Some key is blocked for this much longer.
    Blocked(Duration),
}

/// Counts failed logins in the database and says how long a key must wait.
#[derive(Clone)]
pub struct LoginThrottle {
    store: Store,
    policy: ThrottlePolicy,
    clock: Arc<dyn Clock>,
}

impl LoginThrottle {
    /// A throttle keeping its counts in `store`.
    pub fn new(store: Store, policy: ThrottlePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            policy,
            clock,
        }
    }

    /// Whether an attempt by `keys` may be checked now.
    pub async fn check(&self, keys: &[ThrottleKey]) -> Result<Verdict, StoreError> {
        let now = unix_seconds(self.clock.now());
        let stored: Vec<String> = keys.iter().map(ThrottleKey::storage_key).collect();
        let stored: Vec<&str> = stored.iter().map(String::as_str).collect();
        let found = self.store.login_failures(&stored).await?;
        let wait = found
            .iter()
            .map(|found| found.blocked_until.saturating_sub(now))
            .filter(|&remaining| remaining > 0)
            .max();
        let account_failures = keys
            .iter()
            .zip(&stored)
            .filter(|(key, _)| matches!(key, ThrottleKey::Account(_)))
            .any(|(_, stored)| found.iter().any(|found| found.key == *stored));
        Ok(match wait {
            Some(seconds) => Verdict::Blocked(Duration::from_secs(seconds.unsigned_abs())),
            None => Verdict::Allowed { account_failures },
        })
    }

    /// Counts one failure against each key, blocking those past their allowance.
    pub async fn record_failure(&self, keys: &[ThrottleKey]) -> Result<(), StoreError> {
        let now = unix_seconds(self.clock.now());
        let forget_before = now.saturating_sub(seconds(self.policy.forget_after));
        for key in keys {
            let stored = key.storage_key();
            let failures = self
                .store
                .record_login_failure(&stored, now, forget_before)
                .await?;
            let failures = u32::try_from(failures).unwrap_or(u32::MAX);
            if let Some(delay) = self
                .policy
                .delay_after(failures, key.free_attempts(&self.policy))
            {
                let until = now.saturating_add(seconds(delay));
                self.store.block_login(&stored, until).await?;
            }
        }
        Ok(())
    }

    /// Forgets the failures of `key` (an account after a successful login).
    pub async fn record_success(&self, key: &ThrottleKey) -> Result<(), StoreError> {
        self.store.clear_login_failures(&key.storage_key()).await
    }

    /// Deletes counts that neither block nor will be remembered; run by the pruner.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = unix_seconds(self.clock.now());
        let forget_before = now.saturating_sub(seconds(self.policy.forget_after));
        self.store.prune_login_failures(now, forget_before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy::default()
    }

    #[test]
    fn failures_below_the_free_allowance_have_no_delay() {
        assert_eq!(policy().delay_after(4, 5), None);
    }

    #[test]
    fn reaching_the_allowance_blocks_for_the_base_delay() {
        assert_eq!(policy().delay_after(5, 5), Some(Duration::from_secs(1)));
    }

    #[test]
    fn each_further_failure_doubles_the_delay() {
        assert_eq!(policy().delay_after(7, 5), Some(Duration::from_secs(4)));
    }

    #[test]
    fn the_delay_is_capped() {
        assert_eq!(
            policy().delay_after(u32::MAX, 5),
            Some(Duration::from_secs(15 * 60))
        );
    }

    #[test]
    fn ipv4_clients_are_counted_per_address_and_ipv6_per_slash_64() {
        let v4 = ThrottleKey::Client("203.0.113.7".parse().unwrap());
        assert_eq!(v4.storage_key(), "client:203.0.113.7");
        let mapped = ThrottleKey::Client("::ffff:203.0.113.7".parse().unwrap());
        assert_eq!(mapped.storage_key(), "client:203.0.113.7");
        let a = ThrottleKey::Client("2001:db8:1:2::1".parse().unwrap());
        let b = ThrottleKey::Client("2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(a.storage_key(), "client:2001:db8:1:2::/64");
        assert_eq!(a.storage_key(), b.storage_key());
    }

    #[test]
    fn accounts_are_keyed_by_normalised_email() {
        let key = ThrottleKey::Account(Email::parse(" Alice@Example.com ").unwrap());
        assert_eq!(key.storage_key(), "account:alice@example.com");
    }
}
