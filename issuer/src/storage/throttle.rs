//! The `login_failures` table: failed-login counters shared by every issuer replica.
//!
//! One row per key (`account:<email>` or `client:<address>`). A failure is one upsert that
//! either increments the count or, when the previous failure is older than the caller's
//! memory window, starts again at 1; the block deadline only ever moves forward, so replicas
//! recording failures at once never shorten each other's blocks.

use super::{Store, StoreError, on_pool};

/// A key's recorded failures, as [`Store::login_failures`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCount {
    /// The throttle key.
    pub key: String,
    /// Consecutive failures counted.
    pub failures: i64,
    /// Unix seconds until which the key must wait (in the past when it need not).
    pub blocked_until: i64,
}

impl Store {
    /// The failure rows of `keys` (absent keys have none): one statement per two keys, so
    /// one for a login's address and account.
    pub async fn login_failures(&self, keys: &[&str]) -> Result<Vec<FailureCount>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for pair in keys.chunks(2) {
            let (first, second) = (pair[0], pair.get(1).copied().unwrap_or(pair[0]));
            let rows = on_pool!(self, |pool| {
                sqlx::query_as::<_, (String, i64, i64)>(
                    "SELECT key, failures, blocked_until FROM login_failures WHERE key IN ($1, $2)",
                )
                .bind(first)
                .bind(second)
                .fetch_all(pool)
                .await
            })?;
            found.extend(
                rows.into_iter()
                    .map(|(key, failures, blocked_until)| FailureCount {
                        key,
                        failures,
                        blocked_until,
                    }),
            );
        }
        Ok(found)
    }

    /// Counts one failure of `key` at `now` and returns the count; a previous failure before
    /// `forget_before` is forgotten (the count restarts at 1).
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        forget_before: i64,
    ) -> Result<i64, StoreError> {
        let failures = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO login_failures (key, failures, blocked_until, last_failure_at)
                 VALUES ($1, 1, 0, $2)
                 ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1
                                     ELSE login_failures.failures + 1 END,
                     last_failure_at = $2
                 RETURNING failures",
            )
            .bind(key)
            .bind(now)
            .bind(forget_before)
            .fetch_one(pool)
            .await
        })?;
        Ok(failures)
    }

    /// Blocks `key` until `until` (Unix seconds), unless it is already blocked for longer.
    pub async fn block_login(&self, key: &str, until: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE login_failures
                 SET blocked_until = CASE WHEN blocked_until > $2 THEN blocked_until ELSE $2 END
                 WHERE key = $1",
            )
            .bind(key)
            .bind(until)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Forgets the failures of `key`.
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Deletes rows that no longer block and whose last failure is before `forget_before`.
    pub async fn prune_login_failures(
        &self,
        now: i64,
        forget_before: i64,
    ) -> Result<u64, StoreError> {
        let deleted = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM login_failures WHERE blocked_until <= $1 AND last_failure_at < $2",
            )
            .bind(now)
            .bind(forget_before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }
}
