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
//! An attempt is counted *before* its password is checked ([`LoginThrottle::reserve`]: one
//! statement per key that counts and checks at once, see [`crate::storage`]), and given back
//! when it succeeds ([`LoginThrottle::succeeded`]). Counting after the check would let a burst
//! of parallel attempts all pass the check before any of them is counted; counted first, once
//! a key is in back-off at most one password per back-off step is checked, however many
//! requests arrive at once and on however many replicas.
//!
//! Client addresses are counted per IPv4 address and per IPv6 /64 (one subscriber's usual
//! allocation), so rotating through one's own IPv6 prefix does not reset the count.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::domain::Email;
use crate::storage::{BlockSchedule, ReservedAttempt, Store, StoreError};
use crate::time::seconds;

/// How failures turn into delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed per account before delays start.
    pub account_free_attempts: u32,
    /// Failures allowed per client address before delays start (higher: many users share NATs).
    pub client_free_attempts: u32,
    /// First delay (whole seconds; at least one).
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
    /// The schedule of a key allowed `free` failures, as the database applies it: the failure
    /// that reaches `free` blocks for `base_delay`, each further one for twice the last, up to
    /// `max_delay`.
    pub fn schedule(&self, free: u32) -> BlockSchedule {
        let base_seconds = seconds(self.base_delay).max(1);
        let max_seconds = seconds(self.max_delay).max(base_seconds);
        let mut doublings_to_max = 0;
        while (base_seconds << doublings_to_max) < max_seconds {
            doublings_to_max += 1;
        }
        BlockSchedule {
            free_attempts: i64::from(free),
            base_seconds,
            max_seconds,
            doublings_to_max,
        }
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

/// What [`LoginThrottle::reserve`] found.
#[derive(Debug)]
pub enum Reservation {
    /// The attempt is counted against every key and may be checked.
    Counted(CountedAttempt),
    /// Some key is blocked for this much longer; nothing is counted.
    Blocked(Duration),
}

/// An attempt counted as a failure until [`LoginThrottle::succeeded`] gives it back.
#[derive(Debug)]
#[must_use = "a successful login must give its attempt back"]
pub struct CountedAttempt {
    counted: Vec<(ThrottleKey, String, ReservedAttempt)>,
}

/// Counts login attempts in the database and says how long a key must wait.
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

    /// Counts an attempt by `keys` (in order; put the client address first, so an address in
    /// back-off spends nothing of the accounts it tries) unless one of them is blocked; then
    /// the keys counted so far are given back and the attempt must not be checked.
    pub async fn reserve(&self, keys: &[ThrottleKey]) -> Result<Reservation, StoreError> {
        let now = unix_seconds(self.clock.now());
        let forget_before = now.saturating_sub(seconds(self.policy.forget_after));
        let mut attempt = CountedAttempt {
            counted: Vec::with_capacity(keys.len()),
        };
        for key in keys {
            let stored = key.storage_key();
            let schedule = self.policy.schedule(key.free_attempts(&self.policy));
            let reserved = self
                .store
                .reserve_login_attempt(&stored, now, forget_before, schedule)
                .await?;
            match reserved {
                Some(reserved) => attempt.counted.push((key.clone(), stored, reserved)),
                None => {
                    let until = self.store.login_blocked_until(&stored).await?;
                    self.give_back(attempt).await?;
                    let left = until.saturating_sub(now).max(1);
                    return Ok(Reservation::Blocked(Duration::from_secs(
                        left.unsigned_abs(),
                    )));
                }
            }
        }
        Ok(Reservation::Counted(attempt))
    }

    /// The attempt succeeded: the account's count is cleared, and the client address's attempt
    /// given back. Clearing the address's count would let one valid account reset the back-off
    /// of an address that is guessing other accounts' passwords.
    pub async fn succeeded(&self, attempt: CountedAttempt) -> Result<(), StoreError> {
        for (key, stored, reserved) in &attempt.counted {
            match key {
                ThrottleKey::Account(_) => self.store.clear_login_failures(stored).await?,
                ThrottleKey::Client(_) => {
                    self.store
                        .give_back_login_attempt(stored, *reserved)
                        .await?
                }
            }
        }
        Ok(())
    }

    async fn give_back(&self, attempt: CountedAttempt) -> Result<(), StoreError> {
        for (_, stored, reserved) in &attempt.counted {
            self.store
                .give_back_login_attempt(stored, *reserved)
                .await?;
        }
        Ok(())
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
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::ManualClock;
    use crate::storage::DatabaseConfig;

    /// A throttle on a real SQLite file with the default policy and a manual clock.
    struct Fixture {
        throttle: LoginThrottle,
        clock: ManualClock,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::TempDir::new().unwrap();
        let config = DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("throttle.db").display()),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        };
        let store = Store::open(&config).await.unwrap();
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let throttle =
            LoginThrottle::new(store, ThrottlePolicy::default(), Arc::new(clock.clone()));
        Fixture {
            throttle,
            clock,
            _dir: dir,
        }
    }

    fn account() -> Vec<ThrottleKey> {
        vec![ThrottleKey::Account(
            Email::parse("alice@example.com").unwrap(),
        )]
    }

    impl Fixture {
        /// Counts `n` failed attempts of `keys`, each of them allowed.
        async fn fail(&self, keys: &[ThrottleKey], n: u32) {
            for attempt in 0..n {
                match self.throttle.reserve(keys).await.unwrap() {
                    Reservation::Counted(_) => {}
                    Reservation::Blocked(wait) => panic!("attempt {attempt} blocked for {wait:?}"),
                }
            }
        }

        async fn blocked_for(&self, keys: &[ThrottleKey]) -> Option<Duration> {
            match self.throttle.reserve(keys).await.unwrap() {
                Reservation::Counted(_) => None,
                Reservation::Blocked(wait) => Some(wait),
            }
        }
    }

    #[tokio::test]
    async fn failures_below_the_free_allowance_do_not_block() {
        let fixture = fixture().await;
        fixture.fail(&account(), 4).await;

        assert_eq!(fixture.blocked_for(&account()).await, None);
    }

    #[tokio::test]
    async fn reaching_the_allowance_blocks_for_the_base_delay() {
        let fixture = fixture().await;
        fixture.fail(&account(), 5).await;

        assert_eq!(
            fixture.blocked_for(&account()).await,
            Some(Duration::from_secs(1))
        );
    }

    #[tokio::test]
    async fn each_further_failure_doubles_the_delay() {
        let fixture = fixture().await;
        fixture.fail(&account(), 5).await;
        for delay in [1, 2] {
            fixture.clock.advance(Duration::from_secs(delay));
            fixture.fail(&account(), 1).await;
        }

        assert_eq!(
            fixture.blocked_for(&account()).await,
            Some(Duration::from_secs(4))
        );
    }

    #[tokio::test]
    async fn the_delay_is_capped() {
        let fixture = fixture().await;
        fixture.fail(&account(), 5).await;
        for _ in 0..40 {
            fixture.clock.advance(Duration::from_secs(15 * 60));
            fixture.fail(&account(), 1).await;
        }

        assert_eq!(
            fixture.blocked_for(&account()).await,
            Some(Duration::from_secs(15 * 60))
        );
    }

    #[tokio::test]
    async fn an_attempt_refused_by_a_block_is_not_counted() {
        let fixture = fixture().await;
        fixture.fail(&account(), 5).await;
        for _ in 0..10 {
            assert!(fixture.blocked_for(&account()).await.is_some());
        }
        fixture.clock.advance(Duration::from_secs(1));
        fixture.fail(&account(), 1).await;

        assert_eq!(
            fixture.blocked_for(&account()).await,
            Some(Duration::from_secs(2)),
            "the sixth counted failure, not the sixteenth"
        );
    }

    #[tokio::test]
    async fn a_key_blocked_later_in_the_list_gives_back_the_keys_before_it() {
        let fixture = fixture().await;
        let client = ThrottleKey::Client("203.0.113.7".parse().unwrap());
        fixture.fail(&account(), 5).await;
        let both = [client.clone(), account()[0].clone()];
        for _ in 0..30 {
            assert!(fixture.blocked_for(&both).await.is_some());
        }

        fixture.fail(std::slice::from_ref(&client), 19).await;
        assert_eq!(
            fixture.blocked_for(&[client]).await,
            None,
            "the address's 30 refused attempts were given back"
        );
    }

    #[tokio::test]
    async fn a_success_clears_the_account_and_gives_the_address_its_attempt_back() {
        let fixture = fixture().await;
        let client = ThrottleKey::Client("203.0.113.7".parse().unwrap());
        let both = [client.clone(), account()[0].clone()];
        fixture.fail(&both, 4).await;
        fixture.fail(std::slice::from_ref(&client), 15).await;
        let Reservation::Counted(attempt) = fixture.throttle.reserve(&both).await.unwrap() else {
            panic!("the 20th attempt of the address is allowed");
        };
        assert!(
            fixture
                .blocked_for(std::slice::from_ref(&client))
                .await
                .is_some(),
            "reaching the address's allowance blocked it"
        );

        fixture.throttle.succeeded(attempt).await.unwrap();

        assert_eq!(
            fixture.blocked_for(std::slice::from_ref(&client)).await,
            None,
            "the block the success set is lifted, and this is the 20th failure"
        );
        assert_eq!(
            fixture.blocked_for(&[client]).await,
            Some(Duration::from_secs(1))
        );
        fixture.fail(&account(), 4).await;
        assert_eq!(
            fixture.blocked_for(&account()).await,
            None,
            "the account starts again"
        );
    }

    #[test]
    fn the_schedule_reaches_the_cap_after_the_fewest_doublings() {
        let policy = ThrottlePolicy::default();
        let schedule = policy.schedule(5);
        assert_eq!(schedule.doublings_to_max, 10, "1 s << 10 = 1024 s >= 900 s");
        assert_eq!(schedule.max_seconds, 900);
        let flat = ThrottlePolicy {
            max_delay: policy.base_delay,
            ..policy
        };
        assert_eq!(flat.schedule(5).doublings_to_max, 0);
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
