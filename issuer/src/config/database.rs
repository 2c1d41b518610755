//! The database: `DATABASE_URL` and the connection pool's limits.

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, parse_count, parse_ttl};
use crate::secret::Secret;
use crate::storage::DatabaseConfig;

/// Database settings.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://issuer.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Secret,
    /// Most connections the pool opens (per issuer process).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value = "10", global = true)]
    pub database_max_connections: String,
    /// How long a request waits for a free (or new) connection before answering 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", global = true)]
    pub database_acquire_timeout: String,
    /// Longest a statement may run or wait for a lock before the request answers 503
    /// (PostgreSQL `statement_timeout` and `lock_timeout`; SQLite's busy timeout).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s", global = true)]
    pub database_statement_timeout: String,
}

impl DatabaseArgs {
    /// The validated database settings.
    pub(super) fn parse(&self) -> Result<DatabaseConfig, ConfigError> {
        Ok(DatabaseConfig {
            url: parse_database_url(self.database_url.expose())?,
            max_connections: parse_count(
                "DATABASE_MAX_CONNECTIONS",
                &self.database_max_connections,
                1,
            )?,
            acquire_timeout: parse_ttl("DATABASE_ACQUIRE_TIMEOUT", &self.database_acquire_timeout)?,
            statement_timeout: parse_ttl(
                "DATABASE_STATEMENT_TIMEOUT",
                &self.database_statement_timeout,
            )?,
        })
    }
}

/// A database URL of a scheme this build supports.
fn parse_database_url(raw: &str) -> Result<String, ConfigError> {
    if raw.starts_with("sqlite:")
        || raw.starts_with("postgres://")
        || raw.starts_with("postgresql://")
    {
        Ok(raw.to_owned())
    } else {
        Err(invalid(
            "DATABASE_URL",
            "expected sqlite://PATH (e.g. sqlite://issuer.db) or postgres://USER@HOST/DB",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::tests::{error_for, parse};

    #[test]
    fn database_settings_parse_and_refuse_nonsense() {
        let config = parse(&["--database-url", "postgres://app@db/issuer"]).unwrap();
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.database.statement_timeout, Duration::from_secs(5));
        assert!(
            error_for(&["--database-max-connections", "0"])
                .starts_with("invalid DATABASE_MAX_CONNECTIONS:")
        );
    }

    #[test]
    fn the_database_password_is_not_in_debug_output() {
        let config = parse(&["--database-url", "postgres://app:s3cret@db/issuer"]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn an_unknown_database_scheme_is_refused() {
        assert!(error_for(&["--database-url", "mysql://x"]).starts_with("invalid DATABASE_URL:"));
    }
}
