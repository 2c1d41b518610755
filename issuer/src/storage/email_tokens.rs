//! The `email_tokens` table: tokens mailed for a password reset or an e-mail verification,
//! stored as their hash. A new token replaces the user's earlier ones of the same purpose; a
//! confirmation deletes the row it uses in the statement that checks it, so a token works once
//! even when confirmed twice at the same instant, on any replica.

use sqlx::{Database, Encode, FromRow, Type};
use uuid::Uuid;

use super::id::DbId;
use super::sessions::end_sessions_query;
use super::{EndReason, SessionScope, Store, StoreError, on_pool};

/// What a mailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// `POST /password-reset`.
    PasswordReset,
    /// `POST /email/verify`.
    EmailVerification,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// A token to store for a user.
#[derive(Debug)]
pub struct NewEmailToken<'a> {
    /// Hash of the mailed token.
    pub token_hash: &'a str,
    /// The user.
    pub user_id: Uuid,
    /// What for.
    pub purpose: TokenPurpose,
    /// The address it is mailed to: if the account's address changes, the token is void.
    pub email: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
    /// When it stops working.
    pub expires_at: i64,
}

/// What using a mailed token does. `Debug` shows no hash.
#[derive(Clone, Copy)]
pub enum Redemption<'a> {
    /// Sets the password to this argon2id hash and ends every session.
    PasswordReset {
        /// The new password's hash.
        password_hash: &'a str,
    },
    /// Marks the e-mail verified.
    EmailVerification,
}

impl std::fmt::Debug for Redemption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PasswordReset { .. } => "PasswordReset",
            Self::EmailVerification => "EmailVerification",
        })
    }
}

/// A live token's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The user.
    pub user_id: Uuid,
    /// The address the token was mailed to.
    pub email: String,
}

impl Store {
    /// Stores `token`, replacing the user's earlier token of its purpose (one statement, so
    /// two requests at once leave one token, the later one).
    pub async fn insert_email_token(&self, token: &NewEmailToken<'_>) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at,
                                           expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (user_id, purpose) DO UPDATE
                 SET token_hash = excluded.token_hash, email = excluded.email,
                     created_at = excluded.created_at, expires_at = excluded.expires_at",
            )
            .bind(token.token_hash)
            .bind(DbId(token.user_id))
            .bind(token.purpose.as_str())
            .bind(token.email)
            .bind(token.now)
            .bind(token.expires_at)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// The owner of a live token of `purpose`, without using it up: checked before a new
    /// password is hashed, so that a wrong token costs no hash.
    pub async fn peek_email_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: i64,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, (DbId, String)>(
                "SELECT t.user_id, t.email FROM email_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND t.purpose = $2 AND t.expires_at > $3
                   AND u.email = t.email AND u.disabled_at IS NULL",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(owner))
    }

    /// Uses a token of `redemption`'s kind, atomically: the account's e-mail counts as verified
    /// from `now` (the mail reached its owner) and, for a password reset, the password becomes
    /// the new one, every session of the user ends and their failed-login count is forgotten.
    /// `None` when the token is unknown, used, expired, or was mailed to an address the account
    /// no longer has.
    pub async fn redeem_email_token(
        &self,
        token_hash: &str,
        redemption: Redemption<'_>,
        now: i64,
    ) -> Result<Option<Uuid>, StoreError> {
        let purpose = match redemption {
            Redemption::PasswordReset { .. } => TokenPurpose::PasswordReset,
            Redemption::EmailVerification => TokenPurpose::EmailVerification,
        };
        let user = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let consumed = consume_query(token_hash, purpose, now)
                .fetch_optional(&mut *tx)
                .await?
                .map(owner);
            match consumed {
                None => tx.rollback().await.map(|()| None),
                Some(owner) => {
                    sqlx::query(
                        "UPDATE users SET updated_at = $1,
                             email_verified_at = CASE WHEN email_verified_at IS NULL
                                                      THEN $1 ELSE email_verified_at END
                         WHERE id = $2",
                    )
                    .bind(now)
                    .bind(DbId(owner.user_id))
                    .execute(&mut *tx)
                    .await?;
                    if let Redemption::PasswordReset { password_hash } = redemption {
                        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                            .bind(password_hash)
                            .bind(DbId(owner.user_id))
                            .execute(&mut *tx)
                            .await?;
                        let scope = SessionScope::User(owner.user_id);
                        end_sessions_query(scope, EndReason::PasswordReset, now)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM login_failures WHERE key = $1")
                            .bind(format!("account:{}", owner.email))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await.map(|()| Some(owner.user_id))
                }
            }
        })?;
        Ok(user)
    }

    /// Deletes mailed tokens and pending sign-ups that have expired; run by the pruner.
    pub async fn prune_mailed_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let deleted = on_pool!(self, |pool| {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM email_tokens WHERE expires_at <= $1",
                "DELETE FROM pending_registrations WHERE expires_at <= $1",
            ] {
                deleted += sqlx::query(sql)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
            Ok::<_, sqlx::Error>(deleted)
        })?;
        Ok(deleted)
    }
}

/// The statement deleting a live token of `purpose` whose address is still its account's,
/// returning its owner (user id and address): the single use, for the caller's transaction.
fn consume_query<DB>(
    token_hash: &str,
    purpose: TokenPurpose,
    now: i64,
) -> sqlx::query::QueryAs<'static, DB, (DbId, String), DB::Arguments>
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> (DbId, String): FromRow<'r, DB::Row>,
{
    sqlx::query_as(
        "DELETE FROM email_tokens
         WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3
           AND email = (SELECT u.email FROM users u
                        WHERE u.id = email_tokens.user_id AND u.disabled_at IS NULL)
         RETURNING user_id, email",
    )
    .bind(token_hash.to_owned())
    .bind(purpose.as_str())
    .bind(now)
}

fn owner((user_id, email): (DbId, String)) -> TokenOwner {
    TokenOwner {
        user_id: user_id.into(),
        email,
    }
}

/// A sign-up waiting for its address to be confirmed (`REGISTRATION_ENUMERATION_SAFE`).
pub struct PendingRegistration<'a> {
    /// Hash of the mailed token.
    pub token_hash: &'a str,
    /// The normalised address.
    pub email: &'a str,
    /// The chosen password's argon2id hash.
    pub password_hash: &'a str,
    /// The role asked for (already checked against the self-service roles).
    pub role: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
    /// When the token stops working.
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingRegistration<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRegistration")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// An account made from a confirmed sign-up.
#[derive(Debug, Clone)]
pub struct ConfirmedRegistration {
    /// The new account's id.
    pub id: Uuid,
    /// Its address.
    pub email: String,
    /// Its role.
    pub role: String,
}

impl Store {
    /// Stores a pending sign-up, replacing an earlier one for the same address.
    pub async fn insert_pending_registration(
        &self,
        pending: &PendingRegistration<'_>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO pending_registrations (token_hash, email, password_hash, role,
                                                   created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (email) DO UPDATE
                 SET token_hash = excluded.token_hash, password_hash = excluded.password_hash,
                     role = excluded.role, created_at = excluded.created_at,
                     expires_at = excluded.expires_at",
            )
            .bind(pending.token_hash)
            .bind(pending.email)
            .bind(pending.password_hash)
            .bind(pending.role)
            .bind(pending.now)
            .bind(pending.expires_at)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Makes the account of a pending sign-up whose token is `token_hash`, its address
    /// verified, atomically; the token works once. `None` when it is unknown, used or expired,
    /// or the address got an account meanwhile (by an administrator).
    pub async fn confirm_registration(
        &self,
        token_hash: &str,
        id: Uuid,
        now: i64,
    ) -> Result<Option<ConfirmedRegistration>, StoreError> {
        let confirmed = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let pending = sqlx::query_as::<_, (String, String, String)>(
                "DELETE FROM pending_registrations WHERE token_hash = $1 AND expires_at > $2
                 RETURNING email, password_hash, role",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match pending {
                None => tx.rollback().await.map(|()| Ok(None)),
                Some((email, password_hash, role)) => {
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, email, password_hash, role, created_at,
                                            updated_at, email_verified_at)
                         VALUES ($1, $2, $3, $4, $5, $5, $5)",
                    )
                    .bind(DbId(id))
                    .bind(&email)
                    .bind(&password_hash)
                    .bind(&role)
                    .bind(now)
                    .execute(&mut *tx)
                    .await;
                    match inserted.map_err(StoreError::from) {
                        Ok(_) => tx
                            .commit()
                            .await
                            .map(|()| Ok(Some(ConfirmedRegistration { id, email, role }))),
                        Err(StoreError::Conflict) => tx.rollback().await.map(|()| Ok(None)),
                        Err(error) => Ok(Err(error)),
                    }
                }
            }
        })??;
        Ok(confirmed)
    }
}
