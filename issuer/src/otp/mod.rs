//! Phone logins with one-time codes: `POST /otp/start` sends a code by SMS, `POST /otp/verify`
//! checks it and starts a session like a password login does.
//!
//! Who sends and checks codes is an [`OtpProvider`]: [`TwilioVerify`] in production, or
//! [`LocalProvider`] in development, which makes codes itself and writes them to the log.
//! Around any provider, [`OtpLimits`] caps sends and checks per phone and per client address,
//! per hour, in the database, so that every replica counts the same events.

mod limits;
mod local;
mod twilio;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use limits::{OtpLimitPolicy, OtpLimits};
pub use local::{LocalCodePolicy, LocalProvider, Outbox};
pub use twilio::{TwilioConfig, TwilioVerify};

use crate::clock::Clock;
use crate::domain::{OtpCode, Phone, Role};
use crate::limits::HourlyCounts;
use crate::storage::{Store, StoreError};

/// What a provider's calls return.
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// Sends one-time codes and checks them.
///
/// A provider keeps one live code per phone: a new [`send`](Self::send) replaces the code sent
/// before, and an approved code is used up.
pub trait OtpProvider: Send + Sync {
    /// Sends a new code to `phone`.
    fn send<'a>(&'a self, phone: &'a Phone) -> ProviderFuture<'a, ()>;

    /// Whether `code` is the live code of `phone`.
    fn check<'a>(&'a self, phone: &'a Phone, code: &'a OtpCode) -> ProviderFuture<'a, Check>;
}

/// The verdict on a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The code was right; it is used up.
    Approved,
    /// Wrong, expired, used up, out of attempts, or none was sent.
    Rejected,
}

/// A provider could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider will not send to this number (not a valid mobile number).
    #[error("the provider refused the phone number")]
    InvalidPhone,
    /// The provider's own limit on codes to this number was reached.
    #[error("the provider's limit of codes sent to this number was reached")]
    TooManySends,
    /// The provider is unreachable, slow, misconfigured or failing; the cause is for the log.
    #[error("OTP provider unavailable: {0}")]
    Unavailable(String),
    /// The database, for the local provider.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
