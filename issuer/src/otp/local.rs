//! The development provider: makes 6-digit codes itself and, instead of texting them, writes
//! them to the log (and to an [`Outbox`] that tests read).
//!
//! Codes are stored in the database only as HMAC-SHA256 under a key made at start-up and kept
//! in memory, so a copy of the database does not give away live codes (a plain hash of a
//! 6-digit code falls to a million guesses). Codes therefore do not survive a restart, and
//! replicas cannot check each other's codes: this provider is for one process in development.
//! Configuration refuses it where the rest of the configuration looks like production.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Check, OtpProvider, ProviderFuture};
use crate::clock::{Clock, unix_seconds};
use crate::domain::{OtpCode, Phone};
use crate::storage::Store;

/// Lifetime and attempts of local codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalCodePolicy {
    /// How long a code may be used.
    pub ttl: Duration,
    /// Checks allowed per code; the code is dead after that many wrong ones.
    pub max_attempts: u32,
}

impl Default for LocalCodePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max_attempts: 5,
        }
    }
}

/// Most numbers whose last code the [`Outbox`] keeps.
const OUTBOX_CAPACITY: u64 = 10_000;

/// The last code "sent" to each phone, for tests (the test hook) and local tooling; entries
/// leave when their code expires.
#[derive(Clone)]
pub struct Outbox(moka::sync::Cache<String, String>);

impl Outbox {
    /// The last code sent to `phone` (any format [`Phone::parse`] accepts), if still live.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        let phone = Phone::parse(phone).ok()?;
        self.0.get(phone.as_str())
    }
}

/// See the [module docs](self).
pub struct LocalProvider {
    store: Store,
    clock: Arc<dyn Clock>,
    policy: LocalCodePolicy,
    key: hmac::Key,
    outbox: Outbox,
}

impl LocalProvider {
    /// A provider keeping codes in `store`, with a fresh hashing key.
    pub fn new(store: Store, clock: Arc<dyn Clock>, policy: LocalCodePolicy) -> Self {
        let key_bytes: [u8; 32] = rand::random();
        let outbox = moka::sync::Cache::builder()
            .max_capacity(OUTBOX_CAPACITY)
            .time_to_live(policy.ttl)
            .build();
        Self {
            store,
            clock,
            policy,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key_bytes),
            outbox: Outbox(outbox),
        }
    }

    /// Where sent codes can be read.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// What is hashed: the phone with the code, so a code hashed for one number says nothing
    /// of another's.
    fn message(phone: &Phone, code: &str) -> String {
        format!("{phone}:{code}")
    }

    fn matches(&self, phone: &Phone, code: &OtpCode, stored: &str) -> bool {
        let Ok(stored) = URL_SAFE_NO_PAD.decode(stored) else {
            return false;
        };
        let message = Self::message(phone, code.as_str());
        hmac::verify(&self.key, message.as_bytes(), &stored).is_ok()
    }
}

impl OtpProvider for LocalProvider {
    fn send<'a>(&'a self, phone: &'a Phone) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let code = format!("{:06}", rand::random_range(0..1_000_000u32));
            let tag = hmac::sign(&self.key, Self::message(phone, &code).as_bytes());
            let tag = URL_SAFE_NO_PAD.encode(tag);
            let expires_at = unix_seconds(self.clock.now() + self.policy.ttl);
            self.store
                .replace_otp_code(phone.as_str(), &tag, expires_at)
                .await?;
            tracing::info!(%phone, %code, "local OTP provider (development only): code sent");
            self.outbox.0.insert(phone.as_str().to_owned(), code);
            Ok(())
        })
    }

    fn check<'a>(&'a self, phone: &'a Phone, code: &'a OtpCode) -> ProviderFuture<'a, Check> {
        Box::pin(async move {
            let now = unix_seconds(self.clock.now());
            let Some(stored) = self
                .store
                .spend_otp_attempt(phone.as_str(), now, self.policy.max_attempts)
                .await?
            else {
                return Ok(Check::Rejected);
            };
            if !self.matches(phone, code, &stored) {
                return Ok(Check::Rejected);
            }
            // Of two checks of the right code at once, only the one that deletes it wins.
            Ok(if self.store.use_otp_code(phone.as_str(), &stored).await? {
                self.outbox.0.invalidate(phone.as_str());
                Check::Approved
            } else {
                Check::Rejected
            })
        })
    }
}
