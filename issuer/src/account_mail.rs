//! Password reset and e-mail verification by mail.
//!
//! **Requests** (`POST /password-reset`, `POST /email/verify`) answer 202 with one body whether
//! or not the address has an account, after the same work: two counters (per client address and
//! per e-mail address, shared by every replica) and a place among the mails in flight. The
//! lookup, the token and the mail happen afterwards in a background task, so neither the body,
//! the status nor the timing of the answer depends on the account.
//!
//! **Tokens** are 256 random bits (43 base64url characters), mailed once and stored only as
//! their SHA-256; each lives [`MAIL_TOKEN_TTL`] (15 minutes), works once (the confirming
//! statement deletes it), replaces the user's earlier token of its kind, and dies if the
//! account's address changes. Guessing is pointless at 256 bits, and confirmations are capped
//! per client address all the same ([`CONFIRMS_PER_CLIENT`] an hour).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, unix_seconds};
use crate::domain::{Email, Role};
use crate::email::Mailer;
use crate::limits::{HourlyCounts, client_key};
use crate::storage::{NewEmailToken, PendingRegistration, Store, StoreError, TokenPurpose};
use crate::time::seconds;
use crate::tokens::{new_opaque_token, opaque_token_hash};

/// How long a mailed token works.
pub const MAIL_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Mail requests (resets and verifications together) from one client address per hour.
pub const REQUESTS_PER_CLIENT: u32 = 10;

/// Mail requests for one e-mail address per hour, whoever asks: the owner's mailbox is not
/// flooded.
pub const REQUESTS_PER_ADDRESS: u32 = 5;

/// Token confirmations (right or wrong) from one client address per hour.
pub const CONFIRMS_PER_CLIENT: u32 = 30;

/// Sends and checks the mailed tokens; cheap to clone.
#[derive(Clone)]
pub struct AccountMail {
    store: Store,
    mailer: Mailer,
    counts: HourlyCounts,
    clock: Arc<dyn Clock>,
}

impl AccountMail {
    /// Tokens in `store`, mailed by `mailer`, requests counted in `counts`.
    pub fn new(store: Store, mailer: Mailer, counts: HourlyCounts, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            mailer,
            counts,
            clock,
        }
    }

    /// A request for a `purpose` mail to `email` from `client`: counted, admitted, and handed
    /// to a background task (see the [module docs](self)). The same `Ok` for every address.
    ///
    /// # Errors
    /// Over a limit, the mails in flight at their cap, or the database failing.
    pub async fn request(
        &self,
        purpose: TokenPurpose,
        email: Email,
        client: IpAddr,
    ) -> Result<(), MailError> {
        let endpoint = endpoint(purpose);
        for (key, cap) in [
            (client_key("mail", client), REQUESTS_PER_CLIENT),
            (
                format!("mail:email:{}", email.as_str()),
                REQUESTS_PER_ADDRESS,
            ),
        ] {
            if let Some(retry_after) = self.counts.count(&key, cap).await? {
                tracing::debug!("mail request refused: limit reached");
                return Err(MailError::Limited {
                    endpoint,
                    retry_after,
                });
            }
        }
        let permit = self.mailer.admit().ok_or(MailError::Busy { endpoint })?;
        let this = self.clone();
        self.mailer.spawn(permit, async move {
            if let Err(error) = this.mail_token(purpose, &email).await {
                tracing::warn!(%error, purpose = endpoint, "mail not sent");
            }
        });
        Ok(())
    }

    /// Mails a verification token to a new account (`POST /register` with mail on).
    pub fn welcome(&self, email: Email) {
        self.in_background("verification", move |this| async move {
            if this.address_has_room(&email).await? {
                this.mail_token(TokenPurpose::EmailVerification, &email)
                    .await?;
            }
            Ok(())
        });
    }

    /// A sign-up in `REGISTRATION_ENUMERATION_SAFE` mode, answered already: a free address
    /// gets a pending sign-up and a mail to confirm it (the account is made only then, so a
    /// sign-up cannot be tried against the login); a taken one gets a mail saying it has an
    /// account.
    pub fn sign_up(&self, email: Email, password_hash: String, role: Role) {
        self.in_background("sign-up", move |this| async move {
            this.mail_sign_up(&email, &password_hash, &role).await
        });
    }

    /// Runs `job` in the background if a mail place is free (the user can ask again
    /// otherwise), logging its failure as `what`.
    fn in_background<F, Fut>(&self, what: &'static str, job: F)
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = Result<(), MailJobError>> + Send + 'static,
    {
        let Some(permit) = self.mailer.admit() else {
            tracing::debug!(what, "mail not sent: mails in flight at cap");
            return;
        };
        let job = job(self.clone());
        self.mailer.spawn(permit, async move {
            if let Err(error) = job.await {
                tracing::warn!(%error, what, "mail not sent");
            }
        });
    }

    /// Whether one more mail may go to `email` this hour ([`REQUESTS_PER_ADDRESS`], counted
    /// with the requests): mails no request asked for (sign-up, welcome) are dropped quietly
    /// beyond it, so a mailbox cannot be flooded through `/register` either.
    async fn address_has_room(&self, email: &Email) -> Result<bool, StoreError> {
        let key = format!("mail:email:{}", email.as_str());
        let over = self.counts.count(&key, REQUESTS_PER_ADDRESS).await?;
        if over.is_some() {
            tracing::debug!("mail not sent: the address's hourly limit is reached");
        }
        Ok(over.is_none())
    }

    async fn mail_sign_up(
        &self,
        email: &Email,
        password_hash: &str,
        role: &Role,
    ) -> Result<(), MailJobError> {
        if !self.address_has_room(email).await? {
            return Ok(());
        }
        if self.store.find_user_by_email(email).await?.is_some() {
            let mail = self.mailer.already_registered(email.as_str());
            return Ok(self.mailer.send(&mail).await?);
        }
        let token = new_opaque_token();
        let now = unix_seconds(self.clock.now());
        self.store
            .insert_pending_registration(&PendingRegistration {
                token_hash: &opaque_token_hash(&token),
                email: email.as_str(),
                password_hash,
                role: role.as_str(),
                now,
                expires_at: now.saturating_add(seconds(MAIL_TOKEN_TTL)),
            })
            .await?;
        let minutes = MAIL_TOKEN_TTL.as_secs() / 60;
        let mail = self.mailer.sign_up(email.as_str(), &token, minutes);
        Ok(self.mailer.send(&mail).await?)
    }

    /// Counts a confirmation by `client`, before its token is looked at.
    ///
    /// # Errors
    /// Over [`CONFIRMS_PER_CLIENT`], or the database failing.
    pub async fn count_confirmation(
        &self,
        purpose: TokenPurpose,
        client: IpAddr,
    ) -> Result<(), MailError> {
        let key = client_key("mail_confirm", client);
        match self.counts.count(&key, CONFIRMS_PER_CLIENT).await? {
            Some(retry_after) => Err(MailError::Limited {
                endpoint: endpoint(purpose),
                retry_after,
            }),
            None => Ok(()),
        }
    }

    /// The background half of a request: the lookup, the token and the mail. Nothing is sent
    /// to an address without an account, to a disabled account, nor (verification) to one
    /// already verified; the answer was the same.
    async fn mail_token(&self, purpose: TokenPurpose, email: &Email) -> Result<(), MailJobError> {
        let Some(user) = self.store.find_user_by_email(email).await? else {
            tracing::debug!("mail request for an address without an account");
            return Ok(());
        };
        let wanted = match purpose {
            TokenPurpose::PasswordReset => !user.disabled,
            TokenPurpose::EmailVerification => !user.disabled && !user.email_verified,
        };
        if !wanted {
            tracing::debug!("mail request for an account that gets no mail");
            return Ok(());
        }
        let token = new_opaque_token();
        let now = unix_seconds(self.clock.now());
        self.store
            .insert_email_token(&NewEmailToken {
                token_hash: &opaque_token_hash(&token),
                user_id: user.id,
                purpose,
                email: email.as_str(),
                now,
                expires_at: now.saturating_add(seconds(MAIL_TOKEN_TTL)),
            })
            .await?;
        let minutes = MAIL_TOKEN_TTL.as_secs() / 60;
        let mail = match purpose {
            TokenPurpose::PasswordReset => {
                self.mailer.password_reset(email.as_str(), &token, minutes)
            }
            TokenPurpose::EmailVerification => {
                self.mailer.verification(email.as_str(), &token, minutes)
            }
        };
        self.mailer.send(&mail).await?;
        tracing::info!(user_id = %user.id, purpose = endpoint(purpose), "mail sent");
        Ok(())
    }
}

/// The endpoint name of a purpose, in metrics and logs.
fn endpoint(purpose: TokenPurpose) -> &'static str {
    match purpose {
        TokenPurpose::PasswordReset => "password_reset",
        TokenPurpose::EmailVerification => "email_verify",
    }
}

/// Why a mail request or confirmation was refused.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Over an hourly limit on `endpoint`; retry after this long.
    #[error("too many mail requests or confirmations; retry in {retry_after:?}")]
    Limited {
        /// `password_reset` or `email_verify`.
        endpoint: &'static str,
        /// How long until the window ends.
        retry_after: Duration,
    },
    /// The mails in flight are at their cap (the limits have counted the request).
    #[error("too many mails in flight")]
    Busy {
        /// `password_reset` or `email_verify`.
        endpoint: &'static str,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a background mail job failed (logged, never answered).
#[derive(Debug, thiserror::Error)]
enum MailJobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] crate::email::SendError),
}
