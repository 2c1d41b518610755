//! The `rate_counters` table: events counted per key in fixed windows (see
//! [`crate::limits`]). An upsert either adds one or, when the window has passed, starts a new
//! window at 1.

use super::{Store, StoreError, on_pool};

impl Store {
    /// Counts one event of `key` at `now` and returns the count and start of its window; a
    /// window that started at or before `expired_before` is over, and a new one starts.
    pub async fn count_event(
        &self,
        key: &str,
        now: i64,
        expired_before: i64,
    ) -> Result<(i64, i64), StoreError> {
        let counted = on_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                "INSERT INTO rate_counters (key, window_start, count) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN rate_counters.window_start <= $3 THEN 1
                                  ELSE rate_counters.count + 1 END,
                     window_start = CASE WHEN rate_counters.window_start <= $3 THEN $2
                                         ELSE rate_counters.window_start END
                 RETURNING count, window_start",
            )
            .bind(key)
            .bind(now)
            .bind(expired_before)
            .fetch_one(pool)
            .await
        })?;
        Ok(counted)
    }

    /// Forgets the events of `key`.
    pub async fn clear_event_count(&self, key: &str) -> Result<(), StoreError> {
        self.execute_with("DELETE FROM rate_counters WHERE key = $1", key)
            .await
            .map(drop)
    }

    /// Deletes counts whose window started at or before `expired_before`; returns how many.
    pub async fn prune_event_counts(&self, expired_before: i64) -> Result<u64, StoreError> {
        self.execute_with(
            "DELETE FROM rate_counters WHERE window_start <= $1",
            expired_before,
        )
        .await
    }
}
