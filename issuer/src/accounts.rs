//! Creating accounts: shared by `POST /register` and `issuer user add`.

use std::time::SystemTime;

use uuid::Uuid;

use crate::clock::unix_seconds;
use crate::domain::{Email, Password, Role};
use crate::error::ApiError;
use crate::passwords::PasswordHashing;
use crate::storage::{NewUser, Store};

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

/// Hashes the password (off the runtime) and stores the account.
/// Fails with [`ApiError::EmailTaken`] when the e-mail is registered already.
pub async fn create_account(
    store: &Store,
    passwords: &PasswordHashing,
    email: Email,
    password: Password,
    role: Role,
    now: SystemTime,
) -> Result<Account, ApiError> {
    let password_hash = passwords.hash(password).await?;
    let id = Uuid::now_v7();
    store
        .insert_user(&NewUser {
            id,
            email: &email,
            password_hash: &password_hash,
            role: &role,
            created_at: unix_seconds(now),
        })
        .await?;
    Ok(Account { id, email, role })
}
