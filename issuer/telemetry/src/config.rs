//! The settings every service reads the same way: `LOG_FORMAT` and the `SENTRY_*` variables
//! (`RUST_LOG` is read by the log filter itself).

use std::fmt;
use std::str::FromStr;

use clap::{Args, Parser, ValueEnum};
use sentry::types::Dsn;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Telemetry settings, as environment variables or (in the issuer) same-named flags.
///
/// `Debug` never shows the DSN's key.
#[derive(Clone, Default, Args)]
pub struct TelemetryArgs {
    /// Log line format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Sentry DSN; error reporting is off unless it is set. Parsed by
    /// [`sentry_dsn`](Self::sentry_dsn), so that a bad value is never echoed (it holds a key).
    #[arg(long, env = "SENTRY_DSN", hide_env_values = true)]
    pub sentry_dsn: Option<String>,
    /// The `environment` reported to Sentry (e.g. `production`).
    #[arg(long, env = "SENTRY_ENVIRONMENT")]
    pub sentry_environment: Option<String>,
    /// The `release` reported to Sentry; the crate's name and version when unset.
    #[arg(long, env = "SENTRY_RELEASE")]
    pub sentry_release: Option<String>,
}

impl fmt::Debug for TelemetryArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryArgs")
            .field("log_format", &self.log_format)
            .field("sentry", &self.sentry_dsn.is_some())
            .field("sentry_environment", &self.sentry_environment)
            .field("sentry_release", &self.sentry_release)
            .finish()
    }
}

/// `SENTRY_DSN` does not parse. The message never repeats the value: it holds a key.
#[derive(Debug, thiserror::Error)]
#[error("SENTRY_DSN: not a valid Sentry DSN (expected https://KEY@HOST/PROJECT)")]
pub struct InvalidDsn;

/// For services configured from the environment only.
#[derive(Parser)]
struct FromEnv {
    #[command(flatten)]
    args: TelemetryArgs,
}

impl TelemetryArgs {
    /// The DSN, when error reporting is on (set and not empty).
    ///
    /// # Errors
    /// The DSN is set but does not parse.
    pub fn sentry_dsn(&self) -> Result<Option<Dsn>, InvalidDsn> {
        match self.sentry_dsn.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(value) => Dsn::from_str(value).map(Some).map_err(|_| InvalidDsn),
        }
    }

    /// Reads the settings from the environment. The error is one line naming the variable.
    ///
    /// # Errors
    /// A variable holds a value that cannot be used.
    pub fn from_env() -> Result<Self, String> {
        FromEnv::try_parse_from(["service"])
            .map(|parsed| parsed.args)
            .map_err(|error| first_line(&error.to_string()))
    }
}

/// clap's message without its usage block and the `error: ` prefix.
pub(crate) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_dsn(dsn: &str) -> TelemetryArgs {
        TelemetryArgs {
            sentry_dsn: Some(dsn.to_owned()),
            ..TelemetryArgs::default()
        }
    }

    #[test]
    fn a_dsn_is_parsed_and_its_key_stays_out_of_debug() {
        let args = with_dsn("https://publickey123@sentry.example/42");

        assert_eq!(args.sentry_dsn().unwrap().unwrap().host(), "sentry.example");
        assert!(!format!("{args:?}").contains("publickey123"));
    }

    #[test]
    fn an_empty_dsn_turns_reporting_off() {
        assert!(with_dsn(" ").sentry_dsn().unwrap().is_none());
    }

    #[test]
    fn a_bad_dsn_is_refused_without_echoing_it() {
        let error = with_dsn("not a dsn key123").sentry_dsn().unwrap_err();

        assert!(error.to_string().starts_with("SENTRY_DSN: "));
        assert!(!error.to_string().contains("key123"));
    }
}
