//! What any sender and checker of one-time codes offers: the [`OtpProvider`] trait, its
//! verdicts and its errors.

use std::future::Future;
use std::pin::Pin;

use crate::domain::{OtpCode, Phone};
use crate::storage::StoreError;

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
