//! Password login: admission to the hashing queue, the back-off, the account lookup and the
//! password check, in that order.
//!
//! Unknown e-mails and wrong passwords get the same answer after the same work (a dummy
//! argon2 verification). Each attempt is counted by [`crate::throttle`] before its password is
//! checked and given back when it succeeds, so parallel guesses cannot pass the back-off.

use std::net::IpAddr;
use std::time::Duration;

use crate::domain::Email;
use crate::passwords::{Busy, HashError, PasswordHashing};
use crate::storage::{Store, StoreError, UserRecord};
use crate::throttle::{LoginThrottle, Reservation, ThrottleKey};

/// Why a password login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The address or the account is in back-off for this much longer; no password was
    /// checked.
    #[error("too many failed logins; retry in {0:?}")]
    Blocked(Duration),
    /// Unknown e-mail, an account without a password, or a wrong password (one answer for
    /// all).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The password-hashing queue is full; nothing was read or counted.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password could not be checked.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Logs users in by e-mail and password; cheap to clone.
#[derive(Clone)]
pub struct PasswordLogin {
    store: Store,
    passwords: PasswordHashing,
    throttle: LoginThrottle,
}

impl PasswordLogin {
    /// Accounts in `store`, passwords checked by `passwords`, attempts counted by `throttle`.
    pub fn new(store: Store, passwords: PasswordHashing, throttle: LoginThrottle) -> Self {
        Self {
            store,
            passwords,
            throttle,
        }
    }

    /// The account whose e-mail is `email` and whose password is `password`, asked by `client`.
    pub async fn log_in(
        &self,
        client: IpAddr,
        email: &str,
        password: String,
    ) -> Result<UserRecord, LoginError> {
        // Before anything else: a login turned away costs no database work and no attempt.
        let admission = self.passwords.admit()?;
        let email = Email::parse(email).ok();
        // The address first: an address in back-off spends nothing of the accounts it tries.
        let keys: Vec<ThrottleKey> = std::iter::once(ThrottleKey::Client(client))
            .chain(email.clone().map(ThrottleKey::Account))
            .collect();
        // Counted before the password is checked, so parallel attempts cannot all pass.
        let attempt = match self.throttle.reserve(&keys).await? {
            Reservation::Blocked(retry_after) => return Err(LoginError::Blocked(retry_after)),
            Reservation::Counted(attempt) => attempt,
        };
        let user = match &email {
            Some(email) => self.store.find_user_by_email(email).await?,
            None => None,
        };
        // A phone user has no password: the dummy verification runs, as for an unknown e-mail.
        let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = admission.verify(password, stored_hash).await?;
        let Some(user) = user.filter(|_| verified) else {
            tracing::debug!("login refused: unknown email or wrong password");
            // The counted attempt stays counted: it was a failure.
            return Err(LoginError::InvalidCredentials);
        };
        self.throttle.succeeded(attempt).await?;
        Ok(user)
    }
}
