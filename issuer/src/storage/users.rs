//! The `users` table. An account has an e-mail and a password (`/register`), or a phone number
//! and neither (the first OTP login); the database requires one of e-mail or phone.

use uuid::Uuid;

use super::id::DbId;
use super::sessions::end_sessions_query;
use super::{EndReason, SessionScope, Store, StoreError, on_pool};
use crate::domain::{Email, Phone, Role};

/// A user to insert.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// New id.
    pub id: Uuid,
    /// How the user logs in.
    pub login: NewLogin<'a>,
    /// Role.
    pub role: &'a Role,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When the e-mail was verified, if it already is (an operator's `issuer user add`).
    pub email_verified_at: Option<i64>,
}

/// How a new user logs in. `Debug` shows no hash.
pub enum NewLogin<'a> {
    /// E-mail and password.
    Password {
        /// Normalised e-mail (unique).
        email: &'a Email,
        /// argon2id PHC string.
        password_hash: &'a str,
    },
    /// One-time codes sent to this number (unique).
    Phone(&'a Phone),
}

/// A stored user. `Debug` shows no password hash.
#[derive(Clone)]
pub struct UserRecord {
    /// Id.
    pub id: Uuid,
    /// Normalised e-mail; `None` for a phone user.
    pub email: Option<String>,
    /// E.164 phone number; `None` for an e-mail user.
    pub phone: Option<String>,
    /// argon2id PHC string; `None` for a phone user (no password can match).
    pub password_hash: Option<String>,
    /// Role.
    pub role: String,
    /// Whether an administrator disabled the account (no login, refresh or phone login).
    pub disabled: bool,
    /// Whether the e-mail was verified (by a verification or password-reset mail).
    pub email_verified: bool,
}

impl std::fmt::Debug for NewLogin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { email, .. } => f
                .debug_struct("Password")
                .field("email", email)
                .finish_non_exhaustive(),
            Self::Phone(phone) => f.debug_tuple("Phone").field(phone).finish(),
        }
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("has_password", &self.password_hash.is_some())
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("email_verified", &self.email_verified)
            .finish()
    }
}

/// What an account shows its owner (`GET /me`).
#[derive(Debug, Clone)]
pub struct Profile {
    /// Id.
    pub id: Uuid,
    /// Normalised e-mail; `None` for a phone user.
    pub email: Option<String>,
    /// When the e-mail was verified; `None` until it is.
    pub email_verified_at: Option<i64>,
    /// E.164 phone number; `None` for an e-mail user.
    pub phone: Option<String>,
    /// Role.
    pub role: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A new password for a user, and the one session of theirs that stays. `Debug` shows no hash.
pub struct PasswordChange<'a> {
    /// The user.
    pub user_id: Uuid,
    /// argon2id PHC string of the new password.
    pub password_hash: &'a str,
    /// The session that asked; every other one of the user's ends.
    pub keep_session: Uuid,
    /// Now, Unix seconds.
    pub now: i64,
}

impl std::fmt::Debug for PasswordChange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange")
            .field("user_id", &self.user_id)
            .field("keep_session", &self.keep_session)
            .finish_non_exhaustive()
    }
}

type UserRow = (
    DbId,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
);
type ProfileRow = (
    DbId,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
    i64,
);

const SELECT_BY_PHONE: &str = "SELECT id, email, phone, password_hash, role, disabled_at, email_verified_at FROM users WHERE phone = $1";

impl From<UserRow> for UserRecord {
    fn from(
        (id, email, phone, password_hash, role, disabled_at, email_verified_at): UserRow,
    ) -> Self {
        Self {
            id: id.into(),
            email,
            phone,
            password_hash,
            role,
            disabled: disabled_at.is_some(),
            email_verified: email_verified_at.is_some(),
        }
    }
}

impl Store {
    /// Inserts a user; [`StoreError::Conflict`] when the e-mail or phone is taken.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<(), StoreError> {
        let (email, phone, password_hash) = match user.login {
            NewLogin::Password {
                email,
                password_hash,
            } => (Some(email.as_str()), None, Some(password_hash)),
            NewLogin::Phone(phone) => (None, Some(phone.as_str()), None),
        };
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (id, email, phone, password_hash, role, created_at, updated_at,
                                    email_verified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
            )
            .bind(DbId(user.id))
            .bind(email)
            .bind(phone)
            .bind(password_hash)
            .bind(user.role.as_str())
            .bind(user.created_at)
            .bind(user.email_verified_at)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Finds a user by normalised e-mail.
    pub async fn find_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.find_user(
            "SELECT id, email, phone, password_hash, role, disabled_at, email_verified_at FROM users WHERE email = $1",
            email.as_str(),
        )
        .await
    }

    /// Finds a user by id.
    pub async fn find_user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, UserRow>(
                "SELECT id, email, phone, password_hash, role, disabled_at, email_verified_at FROM users WHERE id = $1",
            )
            .bind(DbId(id))
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(UserRecord::from))
    }

    /// What user `id` sees of their account.
    pub async fn profile(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, ProfileRow>(
                "SELECT id, email, email_verified_at, phone, role, created_at
                 FROM users WHERE id = $1",
            )
            .bind(DbId(id))
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(
            |(id, email, email_verified_at, phone, role, created_at)| Profile {
                id: id.into(),
                email,
                email_verified_at,
                phone,
                role,
                created_at,
            },
        ))
    }

    /// Sets a user's password, ends their other sessions and voids a mailed reset,
    /// atomically; returns how many sessions ended.
    pub async fn change_password(&self, change: &PasswordChange<'_>) -> Result<u64, StoreError> {
        let scope = SessionScope::AllBut {
            user: change.user_id,
            keep: change.keep_session,
        };
        let ended = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(change.password_hash)
                .bind(change.now)
                .bind(DbId(change.user_id))
                .execute(&mut *tx)
                .await?;
            let ended = end_sessions_query(scope, EndReason::PasswordChange, change.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // A reset mailed before the change must not undo it.
            sqlx::query(
                "DELETE FROM email_tokens WHERE user_id = $1 AND purpose = 'password_reset'",
            )
            .bind(DbId(change.user_id))
            .execute(&mut *tx)
            .await?;
            tx.commit().await.map(|()| ended)
        })?;
        Ok(ended)
    }

    /// Finds the user of `phone`: the row stored under its canonical form, or else the row
    /// stored under its [legacy form](Phone::legacy_form) (`+4407700900123`, written by
    /// versions that kept a trunk zero), which is moved to the canonical form on the way (at
    /// `now`) so the number's next lookup finds it directly. Both the login and the `session`
    /// commands come here, so either migrates the row. When both rows exist (the number logged
    /// in both ways before), the canonical one wins and the legacy one is left as it is:
    /// merging two accounts is for an operator to decide, and that row can no longer be
    /// reached by a login.
    pub async fn find_user_by_phone(
        &self,
        phone: &Phone,
        now: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        if let Some(user) = self.find_user(SELECT_BY_PHONE, phone.as_str()).await? {
            return Ok(Some(user));
        }
        let Some(legacy) = phone.legacy_form() else {
            return Ok(None);
        };
        let Some(user) = self.find_user(SELECT_BY_PHONE, &legacy).await? else {
            return Ok(None);
        };
        let moved = on_pool!(self, |pool| {
            sqlx::query("UPDATE users SET phone = $1, updated_at = $2 WHERE id = $3 AND phone = $4")
                .bind(phone.as_str())
                .bind(now)
                .bind(DbId(user.id))
                .bind(&legacy)
                .execute(pool)
                .await
                .map(drop)
        });
        // A conflict (a canonical row appeared meanwhile, and it wins) or no row moved (a
        // concurrent lookup moved it first): either way the canonical row is the answer now.
        match moved.map_err(StoreError::from) {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(error) => return Err(error),
        }
        self.find_user(SELECT_BY_PHONE, phone.as_str()).await
    }

    async fn find_user(
        &self,
        select: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, UserRow>(select)
                .bind(value)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(UserRecord::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        let record = UserRecord {
            id: Uuid::nil(),
            email: Some("alice@example.com".into()),
            phone: None,
            password_hash: Some(hash.into()),
            role: "user".into(),
            disabled: false,
            email_verified: false,
        };
        let email = Email::parse("alice@example.com").unwrap();
        let login = NewLogin::Password {
            email: &email,
            password_hash: hash,
        };

        for shown in [format!("{record:?}"), format!("{login:?}")] {
            assert!(!shown.contains("argon2"), "{shown}");
            assert!(shown.contains("alice@example.com"), "{shown}");
        }
    }
}
