//! Hourly caps on OTP traffic, counted in the database (shared by every replica) by
//! [`HourlyCounts`].
//!
//! - Sends per client address (IPv4 address, IPv6 /64, as for the login back-off): one
//!   client cannot spray codes to many numbers (SMS pumping costs money).
//! - Sends per phone: nobody can flood one number with texts.
//! - Checks per client address: one client cannot guess codes across many numbers, however
//!   many numbers it tries.
//! - Checks per phone: with a 6-digit code and a handful of attempts per code, a guesser gets
//!   only this many tries an hour, however many codes it has sent.
//!
//! An event over a cap is refused with the time left in the window. The client's cap is
//! checked first, so a client over its own cap spends nothing of the phone's. Every event is
//! counted before the work it stands for (the SMS, the code check), so parallel requests
//! cannot all pass a cap. A right code clears the phone's check count (not the client's).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::domain::Phone;
use crate::limits::{HourlyCounts, client_key};
use crate::storage::{Store, StoreError};

/// The caps, per [`LIMIT_WINDOW`](crate::limits::LIMIT_WINDOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpLimitPolicy {
    /// Codes sent to one phone.
    pub sends_per_phone: u32,
    /// Codes requested by one client address.
    pub sends_per_client: u32,
    /// Codes checked for one phone.
    pub checks_per_phone: u32,
    /// Codes checked by one client address.
    pub checks_per_client: u32,
}

impl Default for OtpLimitPolicy {
    fn default() -> Self {
        Self {
            sends_per_phone: 5,
            sends_per_client: 20,
            checks_per_phone: 10,
            checks_per_client: 30,
        }
    }
}

/// Counts OTP events and refuses those over a cap.
#[derive(Clone)]
pub struct OtpLimits {
    counts: HourlyCounts,
    store: Store,
    policy: OtpLimitPolicy,
    clock: Arc<dyn Clock>,
}

impl OtpLimits {
    /// Caps counted in `counts`; expired codes are pruned from `store`.
    pub fn new(
        counts: HourlyCounts,
        store: Store,
        policy: OtpLimitPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            counts,
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
        let by_client = (client_key("send", client), self.policy.sends_per_client);
        let by_phone = (send_key(phone), self.policy.sends_per_phone);
        self.count_client_then_phone(by_client, by_phone).await
    }

    /// Counts a check of a code for `phone` by `client`; `Some(wait)` when a cap refuses it.
    pub async fn count_check(
        &self,
        phone: &Phone,
        client: IpAddr,
    ) -> Result<Option<Duration>, StoreError> {
        let by_client = (client_key("check", client), self.policy.checks_per_client);
        let by_phone = (check_key(phone), self.policy.checks_per_phone);
        self.count_client_then_phone(by_client, by_phone).await
    }

    /// Forgets the checks of `phone` (after a right code).
    pub async fn clear_checks(&self, phone: &Phone) -> Result<(), StoreError> {
        self.counts.clear(&check_key(phone)).await
    }

    /// Deletes expired local codes; run by the pruner (counts are pruned with every other
    /// [`HourlyCounts`]).
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = unix_seconds(self.clock.now());
        self.store.prune_otp_codes(now).await
    }

    /// Counts the event against the client's (key, cap), then, only if that allows it, against
    /// the phone's.
    async fn count_client_then_phone(
        &self,
        (client_key, client_cap): (String, u32),
        (phone_key, phone_cap): (String, u32),
    ) -> Result<Option<Duration>, StoreError> {
        if let Some(wait) = self.counts.count(&client_key, client_cap).await? {
            return Ok(Some(wait));
        }
        self.counts.count(&phone_key, phone_cap).await
    }
}

fn send_key(phone: &Phone) -> String {
    format!("send:phone:{phone}")
}

fn check_key(phone: &Phone) -> String {
    format!("check:phone:{phone}")
}
