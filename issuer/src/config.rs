//! Parsed, validated configuration.
//!
//! [`Config::from_raw`] turns the raw strings of [`RawSettings`] into typed values. Each failure
//! is a [`ConfigError`] whose message is one line naming the variable and what to do, because the
//! operator reading it is in the middle of a deploy.

mod otp;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum_client_ip::ClientIpSource;

use crate::cli::RawSettings;
use crate::domain::Role;
use crate::keys::live::RingSettings;
use crate::throttle::ThrottlePolicy;

pub use otp::{OtpConfig, OtpProviderConfig};

/// Shortest HS256 secret accepted, in bytes (RFC 7518 3.2: at least the hash output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Everything the issuer needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where users and sessions live.
    pub database: DatabaseConfig,
    /// How tokens are signed.
    pub signing: SigningConfig,
    /// The RSA key ring: where it lives, how it rotates and reloads.
    pub keys: RingSettings,
    /// How long verifiers may cache the JWKS (`Cache-Control: max-age`); at most the publish
    /// lead, so that a new key is in every cache before it signs.
    pub jwks_max_age: Duration,
    /// The `iss` claim and public base URL.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of a session and its refresh tokens.
    pub refresh_token_ttl: Duration,
    /// Rules for refreshing and ending sessions.
    pub sessions: SessionPolicy,
    /// Roles that `POST /register` may grant; the first one is the default.
    pub self_service_roles: Vec<Role>,
    /// Largest request body accepted, in bytes (413 beyond).
    pub body_limit_bytes: usize,
    /// Password hashes computed at once; further logins wait their turn.
    pub max_concurrent_hashes: usize,
    /// Back-off applied to repeated failed logins.
    pub login_throttle: ThrottlePolicy,
    /// Registrations accepted from one client address per hour.
    pub registrations_per_client: u32,
    /// Where the client address (for the back-off and session records) comes from.
    pub client_ip_source: ClientIpSource,
    /// Phone login by one-time code; `None` when `OTP_PROVIDER=off`.
    pub otp: Option<OtpConfig>,
}

/// Refresh and clean-up rules of sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A used refresh token presented again within this window gets the same successor.
    pub reuse_grace: Duration,
    /// A session not refreshed for this long cannot refresh any more.
    pub idle_ttl: Option<Duration>,
    /// How often dead sessions are deleted.
    pub prune_interval: Duration,
}

/// Longest refresh grace window accepted: beyond a minute it stops being "concurrent".
pub const MAX_REFRESH_GRACE: Duration = Duration::from_secs(60);

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

/// The signing algorithm and its key material.
#[derive(Debug, Clone)]
pub enum SigningConfig {
    /// RS256 with the key ring in `KEYS_DIR`.
    Rs256,
    /// HS256 with a shared secret.
    Hs256 {
        /// The secret, at least [`MIN_SECRET_BYTES`] long.
        secret: Secret,
    },
}

/// A secret string whose `Debug` output is redacted (the HS256 secret, a database URL that may
/// hold a password, a password given on the command line).
#[derive(Clone)]
pub struct Secret(String);

/// How clap builds it from a flag or an environment variable.
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A configuration value that cannot be used. `Display` is the one line shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value of the wrong form.
    #[error("invalid {var}: {reason}")]
    Invalid {
        /// The environment variable (the flag has the same name).
        var: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A variable that the chosen mode needs is unset.
    #[error("{var} is required: {reason}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// Why it is needed.
        reason: &'static str,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

impl Config {
    /// Parses raw settings.
    pub fn from_raw(raw: &RawSettings) -> Result<Self, ConfigError> {
        let access_token_ttl = parse_ttl("ACCESS_TOKEN_TTL", &raw.access_token_ttl)?;
        let refresh_token_ttl = parse_ttl("REFRESH_TOKEN_TTL", &raw.refresh_token_ttl)?;
        if access_token_ttl > refresh_token_ttl {
            return Err(invalid(
                "ACCESS_TOKEN_TTL",
                "must not be longer than REFRESH_TOKEN_TTL",
            ));
        }
        let sessions = SessionPolicy {
            reuse_grace: parse_grace(&raw.refresh_grace_period)?,
            idle_ttl: match raw.session_idle_ttl.as_str() {
                "off" | "" => None,
                idle => Some(parse_ttl("SESSION_IDLE_TTL", idle)?),
            },
            prune_interval: parse_ttl("SESSION_PRUNE_INTERVAL", &raw.session_prune_interval)?,
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
        let (keys, jwks_max_age) = parse_keys(raw, access_token_ttl)?;
        let issuer = parse_issuer(&raw.jwt_issuer)?;
        let otp = otp::parse_otp(&raw.otp, &issuer)?;
        Ok(Self {
            listen: SocketAddr::new(parse_host(&raw.host)?, parse_port(&raw.port)?),
            database: DatabaseConfig {
                url: parse_database_url(raw.database_url.expose())?,
                max_connections: parse_count(
                    "DATABASE_MAX_CONNECTIONS",
                    &raw.database_max_connections,
                    1,
                )?,
                acquire_timeout: parse_ttl(
                    "DATABASE_ACQUIRE_TIMEOUT",
                    &raw.database_acquire_timeout,
                )?,
                statement_timeout: parse_ttl(
                    "DATABASE_STATEMENT_TIMEOUT",
                    &raw.database_statement_timeout,
                )?,
            },
            signing: parse_signing(raw)?,
            keys,
            jwks_max_age,
            issuer,
            audience: parse_audience(&raw.jwt_audience)?,
            access_token_ttl,
            refresh_token_ttl,
            sessions,
            self_service_roles: parse_roles(&raw.self_service_roles)?,
            body_limit_bytes: 64 * 1024,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            login_throttle: parse_throttle(raw)?,
            registrations_per_client: parse_count(
                "REGISTRATIONS_PER_CLIENT",
                &raw.registrations_per_client,
                1,
            )?,
            client_ip_source: raw.client_ip_source.parse().map_err(|_| {
                invalid(
                    "CLIENT_IP_SOURCE",
                    format!(
                        "'{}' is not a source; use ConnectInfo (the TCP peer), or a header your proxy sets: RightmostXForwardedFor, XRealIp, CfConnectingIp, TrueClientIp, FlyClientIp, CloudFrontViewerAddress, XEnvoyExternalAddress",
                        raw.client_ip_source
                    ),
                )
            })?,
            otp,
        })
    }
}

fn parse_host(raw: &str) -> Result<IpAddr, ConfigError> {
    if raw == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    raw.parse().map_err(|_| {
        invalid(
            "HOST",
            format!("'{raw}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"),
        )
    })
}

fn parse_port(raw: &str) -> Result<u16, ConfigError> {
    raw.parse()
        .map_err(|_| invalid("PORT", format!("'{raw}' is not a port number (0-65535)")))
}

/// Parses a database URL, accepting only the schemes this build supports.
pub fn parse_database_url(raw: &str) -> Result<String, ConfigError> {
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

fn parse_count(var: &'static str, raw: &str, min: u32) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(count) if count >= min => Ok(count),
        _ => Err(invalid(
            var,
            format!("'{raw}' is not a whole number of at least {min}"),
        )),
    }
}

fn parse_throttle(raw: &RawSettings) -> Result<ThrottlePolicy, ConfigError> {
    let base_delay = parse_ttl("LOGIN_BACKOFF_BASE", &raw.login_backoff_base)?;
    let max_delay = parse_ttl("LOGIN_BACKOFF_MAX", &raw.login_backoff_max)?;
    if max_delay < base_delay {
        return Err(invalid(
            "LOGIN_BACKOFF_MAX",
            "must not be shorter than LOGIN_BACKOFF_BASE",
        ));
    }
    Ok(ThrottlePolicy {
        account_free_attempts: parse_count(
            "LOGIN_ACCOUNT_FREE_ATTEMPTS",
            &raw.login_account_free_attempts,
            1,
        )?,
        client_free_attempts: parse_count(
            "LOGIN_CLIENT_FREE_ATTEMPTS",
            &raw.login_client_free_attempts,
            1,
        )?,
        base_delay,
        max_delay,
        // Remember a count at least as long as its longest block, so the doubling continues.
        forget_after: ThrottlePolicy::default().forget_after.max(max_delay * 2),
    })
}

fn parse_signing(raw: &RawSettings) -> Result<SigningConfig, ConfigError> {
    match raw.jwt_algorithm.as_str() {
        "RS256" => {
            if raw.jwt_secret.is_some() {
                return Err(invalid(
                    "JWT_SECRET",
                    "set, but JWT_ALGORITHM is RS256; unset JWT_SECRET or set JWT_ALGORITHM=HS256",
                ));
            }
            Ok(SigningConfig::Rs256)
        }
        "HS256" => {
            let secret = raw.jwt_secret.clone().ok_or(ConfigError::Missing {
                var: "JWT_SECRET",
                reason: "JWT_ALGORITHM=HS256 signs with a shared secret of at least 32 bytes",
            })?;
            let length = secret.expose().len();
            if length < MIN_SECRET_BYTES {
                return Err(invalid(
                    "JWT_SECRET",
                    format!(
                        "{length} bytes is too short; use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`)"
                    ),
                ));
            }
            Ok(SigningConfig::Hs256 { secret })
        }
        other => Err(invalid(
            "JWT_ALGORITHM",
            format!("'{other}' is not supported; use RS256 or HS256"),
        )),
    }
}

/// The key ring settings and the JWKS cache lifetime, which must fit together: a new key is
/// published for `KEY_PUBLISH_LEAD` before it signs, so verifiers caching the JWKS for up to
/// `JWKS_MAX_AGE` see it in time.
fn parse_keys(
    raw: &RawSettings,
    token_ttl: Duration,
) -> Result<(RingSettings, Duration), ConfigError> {
    let jwks_max_age = parse_ttl("JWKS_MAX_AGE", &raw.jwks_max_age)?;
    if jwks_max_age > Duration::from_secs(86_400) {
        return Err(invalid("JWKS_MAX_AGE", "must be at most 1d"));
    }
    let publish_lead = parse_ttl("KEY_PUBLISH_LEAD", &raw.key_publish_lead)?;
    let rotation_interval = match raw.key_rotation_interval.as_str() {
        "off" | "" => None,
        interval => Some(parse_ttl("KEY_ROTATION_INTERVAL", interval)?),
    };
    if rotation_interval.is_some_and(|interval| interval <= publish_lead) {
        return Err(invalid(
            "KEY_ROTATION_INTERVAL",
            "must be longer than KEY_PUBLISH_LEAD",
        ));
    }
    let reload_interval = humantime::parse_duration(&raw.keys_reload_interval)
        .ok()
        .filter(|interval| *interval >= Duration::from_millis(100))
        .ok_or_else(|| {
            invalid(
                "KEYS_RELOAD_INTERVAL",
                format!(
                    "'{}' is not a duration of at least 100ms (e.g. 10s)",
                    raw.keys_reload_interval
                ),
            )
        })?;
    // Replicas see a new key up to one reload interval late, and verifiers cache the JWKS for
    // its max-age, but no less than a minute (verifier-middleware's floor).
    let needed = jwks_max_age.max(MIN_VERIFIER_CACHE) + reload_interval;
    if publish_lead < needed {
        return Err(invalid(
            "KEY_PUBLISH_LEAD",
            format!(
                "must be at least {} (JWKS_MAX_AGE, at least 1m, plus KEYS_RELOAD_INTERVAL): a verifier could still hold the old JWKS when the new key signs",
                humantime::format_duration(needed)
            ),
        ));
    }
    let settings = RingSettings {
        dir: raw.keys_dir.clone(),
        token_ttl,
        publish_lead,
        rotation_interval,
        reload_interval,
    };
    Ok((settings, jwks_max_age))
}

/// The shortest time verifiers built with `verifier-middleware` cache a JWKS, whatever its
/// `max-age`.
const MIN_VERIFIER_CACHE: Duration = Duration::from_secs(60);

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

fn parse_ttl(var: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let ttl = humantime::parse_duration(raw).map_err(|_| {
        invalid(
            var,
            format!("'{raw}' is not a duration (e.g. 900s, 15m, 14d)"),
        )
    })?;
    if ttl < Duration::from_secs(1) {
        return Err(invalid(var, "must be at least 1s"));
    }
    Ok(ttl)
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

fn parse_roles(raw: &str) -> Result<Vec<Role>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|role| !role.is_empty())
        .map(|role| {
            Role::parse(role).map_err(|e| invalid("SELF_SERVICE_ROLES", format!("'{role}': {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli =
            Cli::try_parse_from(std::iter::once("issuer").chain(args.iter().copied())).unwrap();
        Config::from_raw(&cli.settings)
    }

    fn error_for(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_parse() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(14 * 86_400));
        assert_eq!(config.audience, "api");
        assert_eq!(config.self_service_roles.len(), 2);
    }

    #[test]
    fn a_non_numeric_port_names_the_variable() {
        assert_eq!(
            error_for(&["--port", "http"]),
            "invalid PORT: 'http' is not a port number (0-65535)"
        );
    }

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
        assert_eq!(config.sessions.reuse_grace, Duration::from_secs(5));
        assert_eq!(config.sessions.idle_ttl, None);
        let config = parse(&["--session-idle-ttl", "1d", "--refresh-grace-period", "0s"]).unwrap();
        assert_eq!(config.sessions.idle_ttl, Some(Duration::from_secs(86_400)));
        assert_eq!(config.sessions.reuse_grace, Duration::ZERO);
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
    fn an_unknown_algorithm_is_refused() {
        assert_eq!(
            error_for(&["--jwt-algorithm", "none"]),
            "invalid JWT_ALGORITHM: 'none' is not supported; use RS256 or HS256"
        );
    }

    #[test]
    fn hs256_without_a_secret_is_refused() {
        assert!(error_for(&["--jwt-algorithm", "HS256"]).starts_with("JWT_SECRET is required"));
    }

    #[test]
    fn a_short_secret_is_refused_without_echoing_it() {
        let message = error_for(&[
            "--jwt-algorithm",
            "HS256",
            "--jwt-secret",
            "tooshort-secret",
        ]);
        assert!(
            message.starts_with("invalid JWT_SECRET: 15 bytes is too short"),
            "{message}"
        );
        assert!(!message.contains("tooshort-secret"));
    }

    #[test]
    fn a_32_byte_secret_is_accepted() {
        let config = parse(&["--jwt-algorithm", "HS256", "--jwt-secret", &"s".repeat(32)]).unwrap();
        assert!(matches!(config.signing, SigningConfig::Hs256 { .. }));
        assert!(!format!("{config:?}").contains(&"s".repeat(32)));
    }

    #[test]
    fn a_secret_in_rs256_mode_is_refused() {
        assert!(error_for(&["--jwt-secret", &"s".repeat(32)]).starts_with("invalid JWT_SECRET:"));
    }

    #[test]
    fn database_and_login_settings_parse_and_refuse_nonsense() {
        let config = parse(&["--database-url", "postgres://app@db/issuer"]).unwrap();
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.login_throttle, ThrottlePolicy::default());
        assert_eq!(config.registrations_per_client, 20);
        assert_eq!(config.client_ip_source, ClientIpSource::ConnectInfo);
        assert!(
            error_for(&["--registrations-per-client", "0"])
                .starts_with("invalid REGISTRATIONS_PER_CLIENT:")
        );
        let config = parse(&["--client-ip-source", "XRealIp"]).unwrap();
        assert_eq!(config.client_ip_source, ClientIpSource::XRealIp);
        assert!(
            error_for(&["--database-max-connections", "0"])
                .starts_with("invalid DATABASE_MAX_CONNECTIONS:")
        );
        assert!(
            error_for(&["--login-backoff-max", "100ms"]).starts_with("invalid LOGIN_BACKOFF_MAX:")
        );
        assert!(
            error_for(&["--client-ip-source", "X-Forwarded-For"])
                .starts_with("invalid CLIENT_IP_SOURCE:")
        );
    }

    #[test]
    fn key_ring_settings_parse_and_must_fit_together() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.jwks_max_age, Duration::from_secs(300));
        assert_eq!(config.keys.publish_lead, Duration::from_secs(3600));
        assert_eq!(config.keys.rotation_interval, None);
        assert_eq!(config.keys.reload_interval, Duration::from_secs(10));
        assert_eq!(config.keys.token_ttl, config.access_token_ttl);
        let config = parse(&["--key-rotation-interval", "30d"]).unwrap();
        assert_eq!(
            config.keys.rotation_interval,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            error_for(&["--jwks-max-age", "2h"]),
            "invalid KEY_PUBLISH_LEAD: must be at least 2h 10s (JWKS_MAX_AGE, at least 1m, plus KEYS_RELOAD_INTERVAL): a verifier could still hold the old JWKS when the new key signs"
        );
        assert!(
            error_for(&["--jwks-max-age", "1s", "--key-publish-lead", "30s"])
                .starts_with("invalid KEY_PUBLISH_LEAD: must be at least 1m 10s")
        );
        assert!(
            error_for(&["--key-rotation-interval", "30m"])
                .starts_with("invalid KEY_ROTATION_INTERVAL:")
        );
        assert!(
            error_for(&["--keys-reload-interval", "1ms"])
                .starts_with("invalid KEYS_RELOAD_INTERVAL:")
        );
    }

    #[test]
    fn the_database_password_is_not_in_debug_output() {
        let config = parse(&["--database-url", "postgres://app:s3cret@db/issuer"]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn the_raw_command_line_shows_no_secret_in_debug_output() {
        let secret = "an-hs256-secret-of-at-least-32-bytes!";
        let cli = Cli::try_parse_from([
            "issuer",
            "--jwt-algorithm",
            "HS256",
            "--jwt-secret",
            secret,
            "--database-url",
            "postgres://app:s3cret@db/issuer",
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--password",
            "hunter2hunter2",
            "--role",
            "admin",
        ])
        .unwrap();

        let shown = format!("{cli:?}");

        for leaked in [secret, "s3cret", "hunter2hunter2"] {
            assert!(!shown.contains(leaked), "{leaked} in {shown}");
        }
        assert!(
            shown.contains("ops@example.com"),
            "the rest is shown: {shown}"
        );
        let config = Config::from_raw(&cli.settings).unwrap();
        assert!(
            matches!(config.signing, SigningConfig::Hs256 { secret: ref parsed } if parsed.expose() == secret)
        );
    }

    #[test]
    fn an_unknown_database_scheme_is_refused() {
        assert!(error_for(&["--database-url", "mysql://x"]).starts_with("invalid DATABASE_URL:"));
    }

    #[test]
    fn an_issuer_that_is_not_a_url_is_refused() {
        assert!(error_for(&["--jwt-issuer", "issuer"]).starts_with("invalid JWT_ISSUER:"));
    }

    #[test]
    fn a_malformed_self_service_role_is_refused() {
        assert!(
            error_for(&["--self-service-roles", "user,Admin"])
                .starts_with("invalid SELF_SERVICE_ROLES: 'Admin'")
        );
    }
}
