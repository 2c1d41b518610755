//! A database of its own for each test (or bench run): a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL database created through `TEST_DATABASE_URL` and dropped
//! afterwards.
//!
//! Without `TEST_DATABASE_URL` (or with its server down) a PostgreSQL test prints a skip notice
//! and passes; `REQUIRE_POSTGRES=1` makes that a failure, so CI cannot skip them by accident.
//! [`backend_tests!`](crate::backend_tests) declares a test once and runs it on both.
//!
//! ```no_run
//! use test_support::database::{Backend, TestDatabase};
//!
//! # async fn demo() {
//! for backend in [Some(Backend::Sqlite), Backend::postgres().await].into_iter().flatten() {
//!     let database = TestDatabase::create(&backend).await;
//!     // Start the issuer with DATABASE_URL = database.url; the database goes with `database`.
//!     # let _ = database.url;
//! }
//! # }
//! ```

use tempfile::TempDir;

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database created through `TEST_DATABASE_URL`, dropped after the test.
    Postgres {
        /// `TEST_DATABASE_URL`: a database the tests may connect to and create databases from.
        admin_url: String,
    },
}

impl Backend {
    /// PostgreSQL from `TEST_DATABASE_URL`. Without it (or with the server down) the test is
    /// skipped with a notice, unless `REQUIRE_POSTGRES=1` makes that a failure.
    pub async fn postgres() -> Option<Self> {
        use sqlx::Connection;
        let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let skip = |why: String| {
            assert!(!required, "REQUIRE_POSTGRES=1, but {why}");
            eprintln!("skipping the PostgreSQL variant: {why}");
            None
        };
        let admin_url =
            match std::env::var("TEST_DATABASE_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => return skip(
                    "TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1/postgres)"
                        .into(),
                ),
            };
        match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                Some(Self::Postgres { admin_url })
            }
            Err(error) => skip(format!("cannot connect to TEST_DATABASE_URL: {error}")),
        }
    }
}

/// A database of its own for one test; a PostgreSQL one is dropped when this is.
pub struct TestDatabase {
    /// The `DATABASE_URL` the issuer uses.
    pub url: String,
    /// Holds the SQLite file (and is a scratch directory for either backend).
    pub dir: TempDir,
    /// `(admin_url, name)` of a PostgreSQL database to drop.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    pub async fn create(backend: &Backend) -> Self {
        let dir = TempDir::new().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("issuer.db").display()),
                dir,
                postgres: None,
            },
            Backend::Postgres { admin_url } => {
                use sqlx::Connection;
                let name = format!("issuer_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let mut url = reqwest::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    dir,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// The same database for a second app (a replica), with a scratch directory of its own;
    /// only `self` drops it.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            dir: TempDir::new().expect("temp dir"),
            postgres: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on its own futures: use a
        // thread with a runtime of its own. FORCE ends the app's pooled connections.
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .execute(&mut admin)
                .await
                .map(drop)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// Declares, for each named `async fn(Backend)` of the calling module, one test per storage
/// backend: `sqlite::NAME` and `postgres::NAME` (skipped with a notice, or failing under
/// `REQUIRE_POSTGRES=1`, without `TEST_DATABASE_URL`). A function left out of the list is dead
/// code, which the lints refuse, so no test silently runs on one backend only. The calling
/// crate needs `tokio` (for `#[tokio::test]`).
///
/// ```no_run
/// use test_support::backend_tests;
/// use test_support::database::{Backend, TestDatabase};
///
/// backend_tests!(a_fresh_database_has_a_url);
///
/// async fn a_fresh_database_has_a_url(backend: Backend) {
///     let database = TestDatabase::create(&backend).await;
///     assert!(!database.url.is_empty());
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::database::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = $crate::database::Backend::postgres().await {
                        super::$name(backend).await;
                    }
                }
            )+
        }
    };
}
