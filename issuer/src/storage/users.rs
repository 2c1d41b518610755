//! The `users` table.

use uuid::Uuid;

use super::id::DbId;
use super::{Store, StoreError, on_pool};
use crate::domain::{Email, Role};

/// A user to insert.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// New id.
    pub id: Uuid,
    /// Normalised e-mail (unique).
    pub email: &'a Email,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// Role.
    pub role: &'a Role,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A stored user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: Uuid,
    /// Normalised e-mail.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: String,
}

impl Store {
    /// Inserts a user; [`StoreError::Conflict`] when the e-mail is taken.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, role, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(DbId(user.id))
            .bind(user.email.as_str())
            .bind(user.password_hash)
            .bind(user.role.as_str())
            .bind(user.created_at)
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
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, (DbId, String, String, String)>(
                "SELECT id, email, password_hash, role FROM users WHERE email = $1",
            )
            .bind(email.as_str())
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(id, email, password_hash, role)| UserRecord {
            id: id.into(),
            email,
            password_hash,
            role,
        }))
    }
}
