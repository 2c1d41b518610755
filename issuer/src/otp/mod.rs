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
}

/// The provider and its settings.
#[derive(Debug, Clone)]
pub enum OtpProviderConfig {
    /// Twilio Verify.
    Twilio(TwilioConfig),
    /// Codes made here and written to the log (development only).
    Local(LocalCodePolicy),
}

/// Phone login as configured: a provider and the limits around it.
#[derive(Clone)]
pub struct Otp {
    /// Sends and checks codes.
    pub provider: Arc<dyn OtpProvider>,
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
        Ok((
            Self {
                provider,
                limits,
                role,
            },
            outbox,
        ))
    }
}
