//! Hourly caps on events (registrations, OTP sends and checks), counted in the database
//! (table `rate_counters`), so every replica shares them.
//!
//! Each key's count is a fixed window that opens with the key's first event and lasts
//! [`LIMIT_WINDOW`]. An event is counted by one upsert *before* the work it stands for is done,
//! so parallel requests cannot all pass the check before any of them is counted; an event over
//! the cap is refused with the time left in the window.
//!
//! Client addresses are keyed as for the login back-off
//! ([`ThrottleKey::storage_key`](crate::throttle::ThrottleKey::storage_key)): per IPv4 address
//! and per IPv6 /64.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::storage::{Store, StoreError};
use crate::throttle::ThrottleKey;
use crate::time::seconds;

/// The window every cap counts in.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// Counts events per key in [`LIMIT_WINDOW`]s.
#[derive(Clone)]
pub struct HourlyCounts {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl HourlyCounts {
    /// Counts kept in `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Counts one event of `key`; `Some(wait)` when it is over `cap` (it is counted all the
    /// same: a refused attempt is still an attempt).
    pub async fn count(&self, key: &str, cap: u32) -> Result<Option<Duration>, StoreError> {
        let now = unix_seconds(self.clock.now());
        let window = seconds(LIMIT_WINDOW);
        let (count, window_start) = self
            .store
            .count_event(key, now, now.saturating_sub(window))
            .await?;
        if count <= i64::from(cap) {
            return Ok(None);
        }
        let left = window_start.saturating_add(window).saturating_sub(now);
        Ok(Some(Duration::from_secs(left.max(1).unsigned_abs())))
    }

    /// Forgets the events of `key`.
    pub async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.store.clear_event_count(key).await
    }

    /// Deletes counts whose window is over; run by the pruner.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = unix_seconds(self.clock.now());
        self.store
            .prune_event_counts(now.saturating_sub(seconds(LIMIT_WINDOW)))
            .await
    }
}

/// The key of `event` (`register`, `send`, `check`) by the client address `client`.
pub fn client_key(event: &str, client: IpAddr) -> String {
    format!("{event}:{}", ThrottleKey::Client(client).storage_key())
}

/// Registrations per client address: each one costs an argon2 hash and adds an account.
#[derive(Clone)]
pub struct RegistrationLimit {
    counts: HourlyCounts,
    per_client: u32,
}

impl RegistrationLimit {
    /// At most `per_client` registrations per client address per [`LIMIT_WINDOW`].
    pub fn new(counts: HourlyCounts, per_client: u32) -> Self {
        Self { counts, per_client }
    }

    /// Counts a registration by `client`; `Some(wait)` when the cap refuses it.
    pub async fn count(&self, client: IpAddr) -> Result<Option<Duration>, StoreError> {
        self.counts
            .count(&client_key("register", client), self.per_client)
            .await
    }
}
