//! Mail for password resets and e-mail verification, through an [`EmailSender`]: SMTP
//! ([`SmtpSender`], `EMAIL_PROVIDER=smtp`) or the development sender ([`LocalSender`],
//! `EMAIL_PROVIDER=local`) that logs and keeps an outbox for tests, as the OTP providers do.
//!
//! Mail leaves in the background ([`Mailer::spawn`]), so that an answer never waits for (or
//! reveals anything through the timing of) an SMTP conversation; at most `max_concurrent` run
//! at once, beyond which requests are turned away (503) before anything is looked up.

mod local;
mod sender;
mod smtp;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use self::local::{LocalSender, MailOutbox};
pub use self::sender::{EmailSender, OutgoingMail, SendError, SendFuture};
pub use self::smtp::{SmtpConfig, SmtpSender, SmtpTls};

/// Which sender, and its settings.
#[derive(Debug, Clone)]
pub enum EmailProviderConfig {
    /// An SMTP server.
    Smtp(SmtpConfig),
    /// The development sender: logs the mail (tokens included) and keeps it in an outbox.
    Local,
}

/// `EMAIL_*` and `SMTP_*`, parsed.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The sender.
    pub provider: EmailProviderConfig,
    /// `From:` of every mail, e.g. `Shop <no-reply@shop.example>`.
    pub from: String,
    /// Base URL of the web app the links in mails point to (`APP_URL`); mails carry the bare
    /// token when unset.
    pub app_url: Option<String>,
    /// Mails being sent at once, at most.
    pub max_concurrent: usize,
    /// Password logins wait until the e-mail is verified (`REQUIRE_EMAIL_VERIFICATION`).
    pub require_verification: bool,
    /// `POST /register` answers the same whether or not the e-mail has an account
    /// (`REGISTRATION_ENUMERATION_SAFE`); the mail tells the owner which.
    pub enumeration_safe: bool,
}

/// Sends the issuer's mails; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    sender: Arc<dyn EmailSender>,
    app_url: Option<Arc<str>>,
    in_flight: Arc<Semaphore>,
}

/// Setting up the sender failed.
#[derive(Debug, thiserror::Error)]
#[error("EMAIL_PROVIDER: {0}")]
pub struct EmailSetupError(String);

impl Mailer {
    /// The mailer `config` describes, and the local sender's outbox when it is that one.
    ///
    /// # Errors
    /// The SMTP transport or the `From:` address could not be set up.
    pub fn build(config: &EmailConfig) -> Result<(Self, Option<MailOutbox>), EmailSetupError> {
        let (sender, outbox): (Arc<dyn EmailSender>, _) = match &config.provider {
            EmailProviderConfig::Smtp(smtp) => (
                Arc::new(SmtpSender::new(smtp, &config.from).map_err(EmailSetupError)?),
                None,
            ),
            EmailProviderConfig::Local => {
                let local = LocalSender::default();
                let outbox = local.outbox();
                (Arc::new(local), Some(outbox))
            }
        };
        let mailer = Self {
            sender,
            app_url: config.app_url.as_deref().map(Arc::from),
            in_flight: Arc::new(Semaphore::new(config.max_concurrent)),
        };
        Ok((mailer, outbox))
    }

    /// A place for one mail in flight, or `None` when all are taken (turn the request away).
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.in_flight).try_acquire_owned().ok()
    }

    /// Runs `job` (which looks up, stores and sends) in its own task, holding `permit` until
    /// it ends; failures are the job's to log.
    pub fn spawn(
        &self,
        permit: OwnedSemaphorePermit,
        job: impl Future<Output = ()> + Send + 'static,
    ) {
        tokio::spawn(async move {
            job.await;
            drop(permit);
        });
    }

    /// Sends `mail` now.
    ///
    /// # Errors
    /// The sender's failure.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        self.sender.send(mail).await
    }

    /// The mail carrying a password-reset `token` to `to`.
    pub fn password_reset(&self, to: &str, token: &str, minutes: u64) -> OutgoingMail {
        self.with_token(
            to,
            "Reset your password",
            "Someone, hopefully you, asked to reset the password of this account.",
            ("reset-password", token),
            minutes,
        )
    }

    /// The mail carrying an e-mail verification `token` to `to`.
    pub fn verification(&self, to: &str, token: &str, minutes: u64) -> OutgoingMail {
        self.with_token(
            to,
            "Verify your e-mail address",
            "Confirm that this address is yours.",
            ("verify-email", token),
            minutes,
        )
    }

    /// The mail carrying the token that confirms a sign-up of `to`
    /// (`REGISTRATION_ENUMERATION_SAFE`).
    pub fn sign_up(&self, to: &str, token: &str, minutes: u64) -> OutgoingMail {
        self.with_token(
            to,
            "Confirm your sign-up",
            "Someone, hopefully you, asked to create an account with this address. It is created when you confirm.",
            ("confirm-sign-up", token),
            minutes,
        )
    }

    /// The mail telling the owner of `to` that someone tried to register it again.
    pub fn already_registered(&self, to: &str) -> OutgoingMail {
        let reset = match &self.app_url {
            Some(base) => format!(" at {}/reset-password", base.trim_end_matches('/')),
            None => String::new(),
        };
        OutgoingMail {
            to: to.to_owned(),
            subject: "You already have an account".to_owned(),
            body: format!(
                "Someone, hopefully you, tried to sign up with this address, which already has an account.\r\n\r\nIf you forgot your password, reset it{reset}.\r\n\r\nIf it was not you, ignore this mail: nothing changes.\r\n"
            ),
        }
    }

    fn with_token(
        &self,
        to: &str,
        subject: &str,
        why: &str,
        (page, token): (&str, &str),
        minutes: u64,
    ) -> OutgoingMail {
        let action = match &self.app_url {
            Some(base) => format!("Open {}/{page}?token={token}", base.trim_end_matches('/')),
            None => "Enter this code in the app".to_owned(),
        };
        OutgoingMail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: format!(
                "{why}\r\n\r\n{action} within {minutes} minutes.\r\n\r\nCode: {token}\r\n\r\n\
                 If you did not ask for this, ignore this mail: nothing changes.\r\n"
            ),
        }
    }
}

/// The token of a mail the [`Mailer`] wrote (the `Code:` line), e.g. for a test reading the
/// outbox or an SMTP receiver.
pub fn token_in(body: &str) -> Option<&str> {
    body.lines()
        .find_map(|line| line.trim_end().strip_prefix("Code: "))
}
