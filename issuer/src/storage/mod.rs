//! Persistence behind one type, [`Store`], so handlers never see SQL or a database driver.
//!
//! `Store` is an enum over backends, SQLite and PostgreSQL. Every query is written once, in SQL
//! both understand (`$1` placeholders, `CASE` instead of `MAX`/`GREATEST`, Unix-second
//! `BIGINT` times), and [`on_pool!`] compiles it once per backend; only opening, migrations and
//! the start of a write transaction differ. Each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`) describing the same tables. Errors are
//! classified once, in [`StoreError::from`], into what the HTTP layer needs to know: a
//! conflict (409), the database being unavailable (503), or a bug (500).

mod admin;
mod counters;
mod email_tokens;
mod id;
mod otp;
mod sessions;
mod throttle;
mod users;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use admin::{Actor, AuditRecord, UserQuery, UserSummary, UserUpdate};
pub use email_tokens::{
    ConfirmedRegistration, NewEmailToken, PendingRegistration, Redemption, TokenOwner, TokenPurpose,
};
pub use sessions::{
    EndReason, NewSession, PrunePolicy, RefreshTokenRecord, Rotation, RotationOutcome,
    SessionScope, SessionSummary,
};
pub use throttle::{BlockSchedule, ReservedAttempt};
pub use users::{NewLogin, NewUser, PasswordChange, Profile, UserRecord};

use crate::metrics;

/// Runs `$body` with `$pool` bound to the store's connection pool, whichever backend it is.
/// The body is written once and compiled for each backend, so both run the same SQL.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::storage::Store::Sqlite($pool) => $body,
            $crate::storage::Store::Postgres($pool) => $body,
        }
    };
}
use on_pool;

/// Database location and connection behaviour.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...` URL; may hold a password, so `Debug` hides it.
    pub url: String,
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a free (or new) connection before answering 503.
    pub acquire_timeout: Duration,
    /// How long a statement may run or wait on a lock before answering 503 (PostgreSQL
    /// statement and lock timeouts; SQLite's busy timeout).
    pub statement_timeout: Duration,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("DatabaseConfig")
            .field("url", &format_args!("{scheme}:<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// The issuer's database.
#[derive(Debug, Clone)]
pub enum Store {
    /// A SQLite file: one issuer process (or several on one host sharing the file).
    Sqlite(SqlitePool),
    /// A PostgreSQL database: any number of issuer replicas.
    Postgres(PgPool),
}

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. the e-mail is taken).
    #[error("unique constraint violated")]
    Conflict,
    /// The database cannot be reached, is locked, timed out, or is out of space; retrying later
    /// may work.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or corrupt data.
    #[error("database error: {0}")]
    Internal(String),
}

/// Every failed database operation passes here once: counted in the metrics by kind.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let classified = Self::classify(error);
        match &classified {
            Self::Conflict => {}
            Self::Unavailable(_) => metrics::database_error("unavailable"),
            Self::Internal(_) => metrics::database_error("internal"),
        }
        classified
    }
}

impl StoreError {
    fn classify(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) => {
                let code = db.code();
                let transient = match db.try_downcast_ref::<PgDatabaseError>() {
                    Some(_) => is_transient_sqlstate(code.as_deref()),
                    None => is_transient_sqlite_code(code.as_deref()),
                };
                if transient {
                    Self::Unavailable(error)
                } else {
                    Self::Internal(error.to_string())
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => Self::Unavailable(error),
            _ => Self::Internal(error.to_string()),
        }
    }
}

/// SQLite result codes (primary code in the low byte) that mean "not now" rather than "wrong":
/// BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
fn is_transient_sqlite_code(code: Option<&str>) -> bool {
    let primary = code.and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
    matches!(primary, Some(5 | 6 | 8 | 10 | 13 | 14))
}

/// PostgreSQL SQLSTATEs that mean "not now": connection exceptions (08), insufficient resources
/// (53), operator intervention such as a shutdown or a statement timeout (57), system errors
/// (58), serialization failures and deadlocks (40001, 40P01), a lock timeout (55P03), and a
/// read-only transaction (25006: a fail-over left us on a standby).
fn is_transient_sqlstate(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    matches!(code.get(..2), Some("08" | "53" | "57" | "58"))
        || matches!(code, "40001" | "40P01" | "55P03" | "25006")
}

/// The database could not be opened or migrated at start-up.
#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL: cannot open {url}: {reason}")]
pub struct OpenError {
    url: String,
    reason: String,
}

impl Store {
    /// Opens (for SQLite: creating if missing) the database and applies pending migrations.
    /// Several PostgreSQL replicas may start at once: the migrator takes an advisory lock.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, OpenError> {
        let open_error = |reason: String| OpenError {
            url: redact_password(&config.url),
            reason,
        };
        if config.url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(&config.url)
                .map_err(|e| open_error(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(config.statement_timeout)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| open_error(e.to_string()))?;
            tolerant(sqlx::migrate!("migrations/sqlite"))
                .run(&pool)
                .await
                .map_err(|e| open_error(format!("migration failed: {e}")))?;
            Ok(Self::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(&config.url)
                .map_err(|e| open_error(e.to_string()))?
                .application_name("issuer");
            // Migrations get a connection of their own, without the request timeouts: a
            // future migration on a large table may rightly take longer than a request may.
            let mut migrating =
                tokio::time::timeout(config.acquire_timeout, PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| open_error("timed out connecting".into()))?
                    .map_err(|e| open_error(e.to_string()))?;
            tolerant(sqlx::migrate!("migrations/postgres"))
                .run(&mut migrating)
                .await
                .map_err(|e| open_error(format!("migration failed: {e}")))?;
            let _ = migrating.close().await;
            let timeout = format!("{}ms", config.statement_timeout.as_millis());
            let options = options.options([
                ("statement_timeout", timeout.as_str()),
                ("lock_timeout", timeout.as_str()),
                ("idle_in_transaction_session_timeout", "60s"),
            ]);
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| open_error(e.to_string()))?;
            Ok(Self::Postgres(pool))
        }
    }

    /// `query` with a row lock that makes concurrent writers of the rows it reads wait
    /// (`FOR SHARE` or `FOR UPDATE` on PostgreSQL); SQLite needs none, its write transactions
    /// being one at a time. `queries` is `[sqlite, postgres]`, the same statement twice.
    fn locking(&self, queries: [&'static str; 2]) -> &'static str {
        match self {
            Self::Sqlite(_) => queries[0],
            Self::Postgres(_) => queries[1],
        }
    }

    /// The statement that starts a write transaction. SQLite's `IMMEDIATE` takes the write lock
    /// first, so a compare-and-set inside cannot race another connection between its read and
    /// its write; PostgreSQL's row locks do the same under the default READ COMMITTED.
    fn begin_write(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        }
    }

    /// Answers when the database does: for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }

    /// Runs `sql` with `$1` bound to `value` (a key, a Unix time); how many rows it changed.
    async fn execute_with<T>(&self, sql: &'static str, value: T) -> Result<u64, StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send,
    {
        let changed = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(value)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(changed)
    }
}

/// The URL with any password replaced, for error messages.
/// The migrations as start-up runs them: a database that a newer release has already migrated
/// further is accepted, not refused, so that during a rolling update an older replica that
/// restarts (or a rollback) still starts. That holds because migrations only add (a column or
/// table is dropped no sooner than one release after the code stopped using it).
fn tolerant(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

fn redact_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn each_failed_operation_is_counted_once_under_its_kind() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();

        ::metrics::with_local_recorder(&recorder, || {
            drop(StoreError::from(sqlx::Error::PoolClosed));
            drop(StoreError::from(sqlx::Error::PoolTimedOut));
            drop(StoreError::from(sqlx::Error::RowNotFound));
        });

        let mut counts: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                assert_eq!(key.name(), crate::metrics::DATABASE_ERRORS_TOTAL);
                let kind = key.labels().map(|l| l.value().to_owned()).collect();
                let DebugValue::Counter(count) = value else {
                    panic!("not a counter: {value:?}")
                };
                (kind, count)
            })
            .collect();
        counts.sort();
        assert_eq!(
            counts,
            [("internal".to_owned(), 1), ("unavailable".to_owned(), 2)]
        );
    }

    /// Migration 0004 rebuilds `users` on SQLite: accounts and their sessions made before it
    /// must survive it, still tied together (a deleted user still takes its sessions along).
    #[tokio::test]
    async fn accounts_and_sessions_survive_the_phone_migration_on_sqlite() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("old.db").display()),
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(5),
        };
        let options = SqliteConnectOptions::from_str(&config.url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let old = SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate!("migrations/sqlite")
            .run_to(3, &old)
            .await
            .unwrap();
        for statement in [
            "INSERT INTO users VALUES ('0190a000-0000-7000-8000-000000000001', 'old@example.com', 'hash', 'user', 1, 1)",
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, access_expires_at)
             VALUES ('0190a000-0000-7000-8000-000000000002', '0190a000-0000-7000-8000-000000000001', 1, 1, 9, 9)",
        ] {
            sqlx::query(statement).execute(&old).await.unwrap();
        }
        old.close().await;

        let store = Store::open(&config).await.unwrap();

        let user = store
            .find_user_by_email(&crate::domain::Email::parse("old@example.com").unwrap())
            .await
            .unwrap()
            .expect("the account is still there");
        assert_eq!(user.password_hash.as_deref(), Some("hash"));
        assert_eq!(user.phone, None);
        let Store::Sqlite(pool) = &store else {
            unreachable!()
        };
        let count = "SELECT count(*) FROM sessions";
        let sessions: i64 = sqlx::query_scalar(count).fetch_one(pool).await.unwrap();
        assert_eq!(sessions, 1);
        let broken: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
        assert!(broken.is_empty(), "{broken:?}");
        sqlx::query("DELETE FROM users")
            .execute(pool)
            .await
            .unwrap();
        let sessions: i64 = sqlx::query_scalar(count).fetch_one(pool).await.unwrap();
        assert_eq!(sessions, 0, "ON DELETE CASCADE still holds");
    }

    #[test]
    fn a_password_in_the_url_is_not_repeated_in_errors() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db:5432/issuer"),
            "postgres://app:***@db:5432/issuer"
        );
        assert_eq!(
            redact_password("postgres://app@db/issuer"),
            "postgres://app@db/issuer"
        );
        assert_eq!(redact_password("sqlite://issuer.db"), "sqlite://issuer.db");
    }

    #[test]
    fn outages_and_timeouts_are_transient_and_bugs_are_not() {
        for code in [
            "08006", "57P01", "57014", "53300", "40001", "40P01", "55P03",
        ] {
            assert!(is_transient_sqlstate(Some(code)), "{code}");
        }
        for code in ["42P01", "23503", "22P02", "P0001"] {
            assert!(!is_transient_sqlstate(Some(code)), "{code}");
        }
        assert!(
            is_transient_sqlite_code(Some("517")),
            "SQLITE_BUSY_SNAPSHOT"
        );
        assert!(!is_transient_sqlite_code(Some("1")), "SQLITE_ERROR");
    }
}
