//! Hourly caps on OTP traffic, counted in the database (shared by every replica).
//!
//! - Sends per client address (IPv4 address, IPv6 /64, as for the login back-off): one
//!   client cannot spray codes to many numbers (SMS pumping costs money).
//! - Sends per phone: nobody can flood one number with texts.
//! - Checks per phone: with a 6-digit code and a handful of attempts per code, a guesser gets
//!   only this many tries an hour, however many codes it has sent.
//!
//! Each cap is a fixed window that opens with a key's first event and lasts
//! [`LIMIT_WINDOW`]; an event over the cap is refused with the time left in the window. The
//! client's cap is checked first, so a client over its own cap spends nothing of the phone's.
//! A successful check clears the phone's check count.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::domain::Phone;
use crate::sessions::seconds;
use crate::storage::{Store, StoreError};
use crate::throttle::ThrottleKey;

/// The window every cap counts in.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// The caps, per [`LIMIT_WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpLimitPolicy {
    /// Codes sent to one phone.
    pub sends_per_phone: u32,
    /// Codes requested by one client address.
    pub sends_per_client: u32,
    /// Codes checked for one phone.
    pub checks_per_phone: u32,
}

impl Default for OtpLimitPolicy {
    fn default() -> Self {
        Self {
            sends_per_phone: 5,
            sends_per_client: 20,
            checks_per_phone: 10,
        }
    }
}

/// Counts OTP events and refuses those over a cap.
#[derive(Clone)]
pub struct OtpLimits {
    store: Store,
    policy: OtpLimitPolicy,
    clock: Arc<dyn Clock>,
}

impl OtpLimits {
    /// Caps counted in `store`.
    pub fn new(store: Store, policy: OtpLimitPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            policy,
            clock,
        }
    }

    /// Counts a send to `phone` asked by `client`; `Some(wait)` when a cap refuses it.
    pub async fn count_send(
        &self,
        phone: &Phone,
        client: IpAddr,
    ) -> Result<Option<Duration>, StoreError> {
        let client_key = format!("send:{}", ThrottleKey::Client(client).storage_key());
        if let Some(wait) = self
            .count(&client_key, self.policy.sends_per_client)
            .await?
        {
            return Ok(Some(wait));
        }
        self.count(&send_key(phone), self.policy.sends_per_phone)
            .await
    }

    /// Counts a check of a code for `phone`; `Some(wait)` when the cap refuses it.
    pub async fn count_check(&self, phone: &Phone) -> Result<Option<Duration>, StoreError> {
        self.count(&check_key(phone), self.policy.checks_per_phone)
            .await
    }

    /// Forgets the checks of `phone` (after a right code).
    pub async fn clear_checks(&self, phone: &Phone) -> Result<(), StoreError> {
        self.store.clear_otp_counter(&check_key(phone)).await
    }

    /// Deletes expired local codes and counters whose window is over; run by the pruner.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = unix_seconds(self.clock.now());
        self.store
            .prune_otp(now, now.saturating_sub(seconds(LIMIT_WINDOW)))
            .await
    }

    async fn count(&self, key: &str, cap: u32) -> Result<Option<Duration>, StoreError> {
        let now = unix_seconds(self.clock.now());
        let window = seconds(LIMIT_WINDOW);
        let (count, window_start) = self
            .store
            .count_otp_event(key, now, now.saturating_sub(window))
            .await?;
        if count <= i64::from(cap) {
            return Ok(None);
        }
        let left = window_start.saturating_add(window).saturating_sub(now);
        Ok(Some(Duration::from_secs(left.max(1).unsigned_abs())))
    }
}

fn send_key(phone: &Phone) -> String {
    format!("send:phone:{phone}")
}

fn check_key(phone: &Phone) -> String {
    format!("check:phone:{phone}")
}
