//! Persistence behind one type, [`Store`], so handlers never see SQL or a database driver.
//!
//! `Store` is an enum over backends; each query method matches on it and runs that backend's
//! SQL. Adding PostgreSQL means adding a variant, its migrations and its arms here: handlers do
//! not change. Errors are classified once, in [`StoreError::from`], into what the HTTP layer
//! needs to know: a conflict (409), the database being unavailable (503), or a bug (500).

mod sessions;
mod users;

use std::str::FromStr;

use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

pub use sessions::{
    EndReason, NewSession, PrunePolicy, RefreshTokenRecord, Rotation, RotationOutcome,
    SessionScope, SessionSummary,
};
pub use users::{NewUser, UserRecord};

use crate::config::DatabaseConfig;

/// The issuer's database.
#[derive(Debug, Clone)]
pub enum Store {
    /// A SQLite file.
    Sqlite(SqlitePool),
}

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. the e-mail is taken).
    #[error("unique constraint violated")]
    Conflict,
    /// The database cannot be reached, is locked, or is out of space; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or corrupt data.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if is_transient_sqlite_code(db.code().as_deref()) => {
                Self::Unavailable(error)
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

/// Reads a UUID stored as text; a malformed one is corrupt data ([`StoreError::Internal`]).
fn parse_uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Internal(format!("{column}: {e}")))
}

/// The database could not be opened or migrated at start-up.
#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL: cannot open {url}: {reason}")]
pub struct OpenError {
    url: String,
    reason: String,
}

impl Store {
    /// Opens (creating if missing) the database and applies pending migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, OpenError> {
        let open_error = |reason: String| OpenError {
            url: config.url.clone(),
            reason,
        };
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| open_error(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| open_error(format!("migration failed: {e}")))?;
        Ok(Self::Sqlite(pool))
    }

    /// Answers when the database does: for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}
