//! The `sessions` table.

use uuid::Uuid;

use super::{Store, StoreError};

/// A session to insert at login.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// Session id (the `sid` claim).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Hash of the session's refresh token.
    pub refresh_token_hash: &'a str,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Absolute expiry, Unix seconds.
    pub expires_at: i64,
}

impl Store {
    /// Inserts a session.
    pub async fn insert_session(&self, session: &NewSession<'_>) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, refresh_token_hash, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(session.id.to_string())
                .bind(session.user_id.to_string())
                .bind(session.refresh_token_hash)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }
}
