//! [`EmailSender`]: what delivers a mail, and the mail itself.

use std::future::Future;
use std::pin::Pin;

/// One plain-text mail.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The text; it holds a token, so `Debug` does not show it.
    pub body: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sending failed: the cause, for the log only.
#[derive(Debug, thiserror::Error)]
#[error("cannot send mail: {0}")]
pub struct SendError(pub String);

/// A sending future.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers mail.
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `mail`.
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a>;
}
