//! What goes into issued tokens and how sessions refresh: `JWT_ISSUER`, `JWT_AUDIENCE`, the
//! token lifetimes, the refresh grace window, idle expiry and pruning.

use std::time::Duration;

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, parse_optional_ttl, parse_ttl};
use crate::tokens::{SessionPolicy, TokenSettings};

/// Longest refresh grace window accepted: beyond a minute it stops being "concurrent".
pub const MAX_REFRESH_GRACE: Duration = Duration::from_secs(60);

/// Token and session settings.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The `iss` claim; also the public base URL used in discovery.
    #[arg(long, env = "JWT_ISSUER", default_value = "http://localhost:3000", global = true)]
    pub jwt_issuer: String,
    /// The `aud` claim.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "api", global = true)]
    pub jwt_audience: String,
    /// Access-token lifetime, e.g. `900s`, `15m`.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", global = true)]
    pub access_token_ttl: String,
    /// Refresh-token (session) lifetime, e.g. `14d`.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "14d", global = true)]
    pub refresh_token_ttl: String,
    /// How long a used refresh token, presented again, still gets the same successor instead of
    /// ending the session (concurrent refreshes by one client); `0s` turns the grace off.
    #[arg(long, env = "REFRESH_GRACE_PERIOD", default_value = "5s", global = true)]
    pub refresh_grace_period: String,
    /// A session not refreshed for this long can no longer refresh (`off`: no idle expiry).
    #[arg(long, env = "SESSION_IDLE_TTL", default_value = "off", global = true)]
    pub session_idle_ttl: String,
    /// How often ended and expired sessions are deleted.
    #[arg(long, env = "SESSION_PRUNE_INTERVAL", default_value = "10m", global = true)]
    pub session_prune_interval: String,
}

impl TokenArgs {
    /// The validated token settings.
    pub(super) fn parse(&self) -> Result<TokenSettings, ConfigError> {
        let access_token_ttl = parse_ttl("ACCESS_TOKEN_TTL", &self.access_token_ttl)?;
        let refresh_token_ttl = parse_ttl("REFRESH_TOKEN_TTL", &self.refresh_token_ttl)?;
        if access_token_ttl > refresh_token_ttl {
            return Err(invalid(
                "ACCESS_TOKEN_TTL",
                "must not be longer than REFRESH_TOKEN_TTL",
            ));
        }
        let sessions = SessionPolicy {
            reuse_grace: parse_grace(&self.refresh_grace_period)?,
            idle_ttl: parse_optional_ttl("SESSION_IDLE_TTL", &self.session_idle_ttl)?,
            prune_interval: parse_ttl("SESSION_PRUNE_INTERVAL", &self.session_prune_interval)?,
        };
        if sessions
            .idle_ttl
            .is_some_and(|idle| idle < access_token_ttl)
        {
            return Err(invalid(
                "SESSION_IDLE_TTL",
                "must not be shorter than ACCESS_TOKEN_TTL (a client refreshes at most once per access token)",
            ));
        }
        Ok(TokenSettings {
            issuer: parse_issuer(&self.jwt_issuer)?,
            audience: parse_audience(&self.jwt_audience)?,
            access_token_ttl,
            refresh_token_ttl,
            sessions,
        })
    }
}

fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    let is_url = raw.starts_with("http://") || raw.starts_with("https://");
    if is_url && raw.len() > "https://".len() && !raw.contains(char::is_whitespace) {
        Ok(raw.to_owned())
    } else {
        Err(invalid(
            "JWT_ISSUER",
            format!("'{raw}' is not an http(s) URL (e.g. https://auth.example.com)"),
        ))
    }
}

fn parse_audience(raw: &str) -> Result<String, ConfigError> {
    if raw.trim().is_empty() {
        Err(invalid("JWT_AUDIENCE", "must not be empty"))
    } else {
        Ok(raw.to_owned())
    }
}

fn parse_grace(raw: &str) -> Result<Duration, ConfigError> {
    const VAR: &str = "REFRESH_GRACE_PERIOD";
    let grace = humantime::parse_duration(raw).map_err(|_| {
        invalid(
            VAR,
            format!("'{raw}' is not a duration (e.g. 5s, or 0s for none)"),
        )
    })?;
    if grace > MAX_REFRESH_GRACE {
        return Err(invalid(
            VAR,
            "must be at most 60s; it only covers concurrent duplicates",
        ));
    }
    Ok(grace)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::tests::{error_for, parse};

    #[test]
    fn a_bad_duration_names_the_variable() {
        assert!(
            error_for(&["--access-token-ttl", "soon"]).starts_with("invalid ACCESS_TOKEN_TTL:")
        );
    }

    #[test]
    fn an_access_ttl_longer_than_the_refresh_ttl_is_refused() {
        assert!(error_for(&["--access-token-ttl", "30d"]).starts_with("invalid ACCESS_TOKEN_TTL:"));
    }

    #[test]
    fn session_settings_parse_with_defaults_and_refuse_nonsense() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.tokens.sessions.reuse_grace, Duration::from_secs(5));
        assert_eq!(config.tokens.sessions.idle_ttl, None);
        let config = parse(&["--session-idle-ttl", "1d", "--refresh-grace-period", "0s"]).unwrap();
        assert_eq!(
            config.tokens.sessions.idle_ttl,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(config.tokens.sessions.reuse_grace, Duration::ZERO);
        assert!(
            error_for(&["--refresh-grace-period", "5m"])
                .starts_with("invalid REFRESH_GRACE_PERIOD:")
        );
        assert!(error_for(&["--session-idle-ttl", "1m"]).starts_with("invalid SESSION_IDLE_TTL:"));
        assert!(
            error_for(&["--session-prune-interval", "often"])
                .starts_with("invalid SESSION_PRUNE_INTERVAL:")
        );
    }

    #[test]
    fn an_issuer_that_is_not_a_url_is_refused() {
        assert!(error_for(&["--jwt-issuer", "issuer"]).starts_with("invalid JWT_ISSUER:"));
    }
}
