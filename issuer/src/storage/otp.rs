//! The `otp_codes` table.
//!
//! `otp_codes` holds the local provider's one live code per phone, as a keyed hash. A check
//! first spends an attempt in one conditional `UPDATE ... RETURNING` (only on a live code with
//! attempts left), so replicas checking at once can never spend more attempts than allowed; a
//! matching code is then deleted by a statement that names its hash, so of two concurrent
//! correct checks only one succeeds.

use super::{Store, StoreError, on_pool};

impl Store {
    /// Makes `code_hash` the live code of `phone` until `expires_at`, with no attempts spent;
    /// any earlier code of the phone stops working.
    pub async fn replace_otp_code(
        &self,
        phone: &str,
        code_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO otp_codes (phone, code_hash, expires_at, attempts)
                 VALUES ($1, $2, $3, 0)
                 ON CONFLICT (phone) DO UPDATE SET
                     code_hash = excluded.code_hash,
                     expires_at = excluded.expires_at,
                     attempts = 0",
            )
            .bind(phone)
            .bind(code_hash)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Spends one attempt on the live code of `phone` and returns its hash; `None` when there
    /// is no code, it expired (at `now`), or `max_attempts` are spent.
    pub async fn spend_otp_attempt(
        &self,
        phone: &str,
        now: i64,
        max_attempts: u32,
    ) -> Result<Option<String>, StoreError> {
        let hash = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, String>(
                "UPDATE otp_codes SET attempts = attempts + 1
                 WHERE phone = $1 AND expires_at > $2 AND attempts < $3
                 RETURNING code_hash",
            )
            .bind(phone)
            .bind(now)
            .bind(i64::from(max_attempts))
            .fetch_optional(pool)
            .await
        })?;
        Ok(hash)
    }

    /// Deletes the code of `phone` if it is still `code_hash`; whether this call deleted it.
    pub async fn use_otp_code(&self, phone: &str, code_hash: &str) -> Result<bool, StoreError> {
        let deleted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM otp_codes WHERE phone = $1 AND code_hash = $2")
                .bind(phone)
                .bind(code_hash)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted == 1)
    }

    /// Deletes codes expired at `now`; returns how many.
    pub async fn prune_otp_codes(&self, now: i64) -> Result<u64, StoreError> {
        self.execute_with("DELETE FROM otp_codes WHERE expires_at <= $1", now)
            .await
    }
}
