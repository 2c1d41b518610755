//! Creating accounts: by e-mail and password (shared by `POST /register` and `issuer user
//! add`), and by phone at the first OTP login.

use std::time::SystemTime;

use uuid::Uuid;

use crate::clock::unix_seconds;
use crate::domain::{Email, Password, Phone, Role};
use crate::passwords::{Admission, HashError};
use crate::storage::{NewLogin, NewUser, Store, StoreError, UserRecord};

/// Who may register, and how often.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Whether `POST /register` creates accounts (`REGISTRATION_OPEN`); when it does not, only
    /// `issuer user add` does.
    pub registration_open: bool,
    /// Roles `POST /register` may grant; the first is the default.
    pub self_service_roles: Vec<Role>,
    /// Registrations accepted from one client address per hour.
    pub registrations_per_client: u32,
}

/// Why an account could not be created or found.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The e-mail is registered already.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The password could not be hashed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// A phone account was inserted (or found taken) and then not found: a bug or a concurrent
    /// deletion.
    #[error("phone account vanished after insert")]
    Vanished,
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::EmailTaken,
            error => Self::Store(error),
        }
    }
}

/// A newly created account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Id.
    pub id: Uuid,
    /// Normalised e-mail.
    pub email: Email,
    /// Role.
    pub role: Role,
}

/// Hashes the password (off the runtime, in the place `admission` holds in the hashing queue)
/// and stores the account, its e-mail verified already when `email_verified` (an operator
/// vouches for it).
/// Fails with [`AccountError::EmailTaken`] when the e-mail is registered already.
pub async fn create_account(
    store: &Store,
    admission: Admission,
    email: Email,
    password: Password,
    role: Role,
    now: SystemTime,
    email_verified: bool,
) -> Result<Account, AccountError> {
    let password_hash = admission.hash(password).await?;
    let id = Uuid::now_v7();
    let now = unix_seconds(now);
    store
        .insert_user(&NewUser {
            id,
            login: NewLogin::Password {
                email: &email,
                password_hash: &password_hash,
            },
            role: &role,
            created_at: now,
            email_verified_at: email_verified.then_some(now),
        })
        .await?;
    Ok(Account { id, email, role })
}

/// The account of `phone`, created with `role` if there is none yet (the first login by a
/// code sent to it). Two first logins at once both end up with the one account. An account
/// stored under the number's legacy form is found and moved to the canonical form
/// ([`Store::find_user_by_phone`]).
pub async fn phone_account(
    store: &Store,
    phone: &Phone,
    role: &Role,
    now: SystemTime,
) -> Result<UserRecord, AccountError> {
    let now = unix_seconds(now);
    if let Some(user) = store.find_user_by_phone(phone, now).await? {
        return Ok(user);
    }
    let inserted = store
        .insert_user(&NewUser {
            id: Uuid::now_v7(),
            login: NewLogin::Phone(phone),
            role,
            created_at: now,
            email_verified_at: None,
        })
        .await;
    match inserted {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(error) => return Err(AccountError::Store(error)),
    }
    store
        .find_user_by_phone(phone, now)
        .await?
        .ok_or(AccountError::Vanished)
}
