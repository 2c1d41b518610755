//! Phone logins with one-time codes: `POST /otp/start` sends a code by SMS, `POST /otp/verify`
//! checks it and starts a session like a password login does.
//!
//! Who sends and checks codes is an [`OtpProvider`]: [`TwilioVerify`] in production, or
//! [`LocalProvider`] in development, which makes codes itself and writes them to the log.
//! Around any provider, [`OtpLimits`] caps sends and checks per phone and per client address,
//! per hour, in the database, so that every replica counts the same events.

mod limits;
mod local;
mod provider;
mod twilio;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use limits::{OtpLimitPolicy, OtpLimits};
pub use local::{LocalCodePolicy, LocalProvider, Outbox};
pub use provider::{Check, OtpProvider, ProviderError, ProviderFuture};
pub use twilio::{TwilioConfig, TwilioVerify};

use crate::clock::Clock;
use crate::domain::Role;
use crate::limits::HourlyCounts;
use crate::storage::Store;

/// How long a client is asked to wait when the provider's own send limit was reached (Twilio
/// Verify allows five sends per number in ten minutes).
pub const PROVIDER_SEND_LIMIT_WAIT: Duration = Duration::from_secs(600);

/// Phone login, when enabled.
#[derive(Debug, Clone)]
pub struct OtpConfig {
    /// Who sends and checks codes.
    pub provider: OtpProviderConfig,
    /// Hourly caps on sends and checks.
    pub limits: OtpLimitPolicy,
    /// Role of the accounts phone login creates.
    pub role: Role,
    /// Provider calls in flight at once.
    pub max_concurrent: u32,
}

/// The provider and its settings.
#[derive(Debug, Clone)]
pub enum OtpProviderConfig {
    /// Twilio Verify.
    Twilio(TwilioConfig),
    /// Codes made here and written to the log (development only).
    Local(LocalCodePolicy),
}

/// How long a client turned away by [`Otp::admit`] is asked to wait.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Phone login as configured: a provider and the limits around it.
#[derive(Clone)]
pub struct Otp {
    /// Sends and checks codes.
    pub provider: Arc<dyn OtpProvider>,
    /// One permit per provider call in flight.
    calls: Arc<Semaphore>,
    /// Hourly caps shared through the database.
    pub limits: OtpLimits,
    /// Role of the accounts phone login creates.
    pub role: Role,
}

/// The provider could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
#[error("OTP_PROVIDER: cannot set up the HTTP client: {0}")]
pub struct OtpSetupError(#[from] reqwest::Error);

impl Otp {
    /// Builds phone login from its configuration; the local provider's [`Outbox`] comes back
    /// too, for tests.
    pub fn build(
        config: &OtpConfig,
        store: &Store,
        clock: &Arc<dyn Clock>,
    ) -> Result<(Self, Option<Outbox>), OtpSetupError> {
        let (provider, outbox): (Arc<dyn OtpProvider>, _) = match &config.provider {
            OtpProviderConfig::Twilio(twilio) => (Arc::new(TwilioVerify::new(twilio)?), None),
            OtpProviderConfig::Local(policy) => {
                let local = LocalProvider::new(store.clone(), Arc::clone(clock), *policy);
                let outbox = local.outbox();
                (Arc::new(local), Some(outbox))
            }
        };
        let counts = HourlyCounts::new(store.clone(), Arc::clone(clock));
        let limits = OtpLimits::new(counts, store.clone(), config.limits, Arc::clone(clock));
        let role = config.role.clone();
        let calls = Arc::new(Semaphore::new(config.max_concurrent as usize));
        Ok((
            Self {
                provider,
                calls,
                limits,
                role,
            },
            outbox,
        ))
    }

    /// A place for one provider call (a send or a check), or `None` when `OTP_MAX_CONCURRENT`
    /// calls are in flight: the request is then turned away before anything is counted, as
    /// password work is when the hashing queue is full. Hold it until the call returns.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.calls).try_acquire_owned().ok()
    }
}
