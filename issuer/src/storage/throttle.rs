//! The `login_failures` table: failed-login counters shared by every issuer replica.
//!
//! One row per key (`account:<email>` or `client:<address>`). An attempt is counted *before*
//! its password is checked, by one upsert that counts and checks at once
//! ([`Store::reserve_login_attempt`]): it adds one to the count (or starts again at 1 when the
//! previous attempt is older than the memory window) and moves the block deadline, but only
//! while the key is not blocked. The database serialises the upserts of one key, so of any
//! number of parallel attempts, on one replica or many, only those that find the key unblocked
//! are counted and may be checked; once one of them sets a block, the rest are refused without
//! a password check. A successful login gives its attempt back
//! ([`Store::give_back_login_attempt`]) or clears the key ([`Store::clear_login_failures`]).

use std::sync::LazyLock;

use super::{Store, StoreError, on_pool};

/// How a count turns into a block, as the reservation statement's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSchedule {
    /// Attempts counted before the first block.
    pub free_attempts: i64,
    /// The first block, in seconds.
    pub base_seconds: i64,
    /// The longest block, in seconds.
    pub max_seconds: i64,
    /// Doublings of `base_seconds` after which `max_seconds` is reached: the smallest `d` with
    /// `base_seconds << d >= max_seconds`, so the shift in the statement never overflows.
    pub doublings_to_max: i64,
}

/// An attempt counted by [`Store::reserve_login_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedAttempt {
    /// The key's count, this attempt included.
    pub failures: i64,
    /// The block this attempt set (Unix seconds; 0 or in the past when it set none).
    pub blocked_until: i64,
}

/// The block a count of `count` (an SQL expression) sets: none below the free attempts, then
/// the base delay doubling per further attempt, capped. `$2` is now; `$4..$7` the schedule.
fn block_after(count: &str) -> String {
    format!(
        "CASE WHEN {count} < $4 THEN 0
              WHEN {count} - $4 >= $7 THEN $2 + $6
              ELSE $2 + ($5 << CAST({count} - $4 AS INTEGER)) END"
    )
}

/// Counts an attempt unless the key is blocked; see [`Store::reserve_login_attempt`].
static RESERVE: LazyLock<String> = LazyLock::new(|| {
    let count = "CASE WHEN login_failures.last_failure_at < $3 THEN 1
                      ELSE login_failures.failures + 1 END";
    format!(
        "INSERT INTO login_failures (key, failures, blocked_until, last_failure_at)
         VALUES ($1, 1, {first}, $2)
         ON CONFLICT (key) DO UPDATE SET
             failures = {count},
             blocked_until = {next},
             last_failure_at = $2
         WHERE login_failures.blocked_until <= $2
         RETURNING failures, blocked_until",
        first = block_after("1"),
        next = block_after(count),
    )
});

impl Store {
    /// Counts one attempt of `key` at `now`, unless the key is blocked then: `None` when it is
    /// (nothing is written). A previous attempt before `forget_before` is forgotten (the count
    /// restarts at 1). The attempt that reaches the free allowance, and each after it, blocks
    /// the key for the schedule's delay.
    pub async fn reserve_login_attempt(
        &self,
        key: &str,
        now: i64,
        forget_before: i64,
        schedule: BlockSchedule,
    ) -> Result<Option<ReservedAttempt>, StoreError> {
        let sql: &'static str = RESERVE.as_str();
        let reserved = on_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(sql)
                .bind(key)
                .bind(now)
                .bind(forget_before)
                .bind(schedule.free_attempts)
                .bind(schedule.base_seconds)
                .bind(schedule.max_seconds)
                .bind(schedule.doublings_to_max)
                .fetch_optional(pool)
                .await
        })?;
        Ok(reserved.map(|(failures, blocked_until)| ReservedAttempt {
            failures,
            blocked_until,
        }))
    }

    /// Until when `key` is blocked (Unix seconds; 0 when it has no row).
    pub async fn login_blocked_until(&self, key: &str) -> Result<i64, StoreError> {
        let until = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT blocked_until FROM login_failures WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(until.unwrap_or(0))
    }

    /// Takes back an attempt of `key` that was not a failure: one less in the count, and the
    /// block it set lifted, unless a later attempt has set another since.
    pub async fn give_back_login_attempt(
        &self,
        key: &str,
        reserved: ReservedAttempt,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE login_failures
                 SET failures = failures - 1,
                     blocked_until = CASE WHEN blocked_until = $2 THEN 0 ELSE blocked_until END
                 WHERE key = $1 AND failures > 0",
            )
            .bind(key)
            .bind(reserved.blocked_until)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Forgets the failures of `key`.
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        self.execute_with("DELETE FROM login_failures WHERE key = $1", key)
            .await
            .map(drop)
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
