//! Settings: declared once, parsed once, by feature.
//!
//! Every setting is a flag and an environment variable of the same name (`--port` / `PORT`),
//! declared in the clap [`Args`] group of its feature, in this folder: [`server`],
//! [`database`], [`keys`] (signing and the key ring), [`tokens`] (claims, lifetimes, sessions),
//! [`login`] (back-off, registrations, client address), [`hashing`] (password-hashing
//! capacity), [`otp`] (phone login) and [`email`] (mail); logs and
//! error reporting are the `telemetry` crate's `TelemetryArgs`. Values arrive as raw strings and
//! each group's `parse` turns them into the settings type its feature owns (e.g.
//! [`crate::throttle::ThrottlePolicy`]), so that a bad value is reported in one line that names
//! the variable, whichever way it was given: the operator reading it is in the middle of a
//! deploy. Features never read this module; [`Config`] is handed to `startup`, which gives each
//! feature its part.
//!
//! Adding a setting: a field in its group's `Args` struct, its parse (and test) in the same
//! file, the field of the feature's settings type, and the README's configuration row.

pub mod database;
pub mod email;
pub mod hashing;
pub mod keys;
pub mod login;
pub mod otp;
mod parse;
pub mod server;
pub mod tokens;

use std::net::SocketAddr;
use std::time::Duration;

use axum_client_ip::ClientIpSource;
use clap::Args;

pub use self::parse::ConfigError;

use crate::accounts::AccountSettings;
use crate::cors::CorsPolicy;
use crate::email::EmailConfig;
use crate::keys::live::RingSettings;
use crate::otp::OtpConfig;
use crate::passwords::QueuePolicy;
use crate::storage::DatabaseConfig;
use crate::throttle::ThrottlePolicy;
use crate::tokens::{SigningConfig, TokenSettings};

/// Every setting of the issuer's commands, as given by flags or environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// `HOST`, `PORT`, `REQUEST_TIMEOUT`, `HEADER_READ_TIMEOUT`, `MAX_CONNECTIONS`,
    /// `CORS_ALLOWED_ORIGINS`.
    #[command(flatten)]
    pub server: server::ServerArgs,
    /// `DATABASE_*`.
    #[command(flatten)]
    pub database: database::DatabaseArgs,
    /// `KEYS_DIR`, `KEY_*`, `JWKS_MAX_AGE`, `JWT_ALGORITHM`, `JWT_SECRET`.
    #[command(flatten)]
    pub keys: keys::KeysArgs,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `*_TOKEN_TTL`, `REFRESH_GRACE_PERIOD`, `SESSION_*`.
    #[command(flatten)]
    pub tokens: tokens::TokenArgs,
    /// `LOGIN_*`, `REGISTRATIONS_PER_CLIENT`, `SELF_SERVICE_ROLES`, `CLIENT_IP_SOURCE`.
    #[command(flatten)]
    pub login: login::LoginArgs,
    /// `PASSWORD_HASH_*`.
    #[command(flatten)]
    pub hashing: hashing::HashingArgs,
    /// `OTP_*`, `TWILIO_*`.
    #[command(flatten)]
    pub otp: otp::OtpArgs,
    /// `EMAIL_*`, `SMTP_*`, `APP_URL`, `REQUIRE_EMAIL_VERIFICATION`,
    /// `REGISTRATION_ENUMERATION_SAFE`.
    #[command(flatten)]
    pub email: email::EmailArgs,
}

/// Everything the issuer needs to start, each part in its feature's type.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Browser origins allowed to call the issuer (CORS); none by default.
    pub cors: CorsPolicy,
    /// Timeouts and the connection cap of the HTTP server.
    pub server_limits: telemetry::ServerLimits,
    /// Where users and sessions live.
    pub database: DatabaseConfig,
    /// How tokens are signed.
    pub signing: SigningConfig,
    /// The RSA key ring: where it lives, how it rotates and reloads.
    pub keys: RingSettings,
    /// How long verifiers may cache the JWKS (`Cache-Control: max-age`); at most the publish
    /// lead, so that a new key is in every cache before it signs.
    pub jwks_max_age: Duration,
    /// Claims and lifetimes of issued tokens, and the rules of sessions.
    pub tokens: TokenSettings,
    /// Who may register, and how often.
    pub accounts: AccountSettings,
    /// Back-off applied to repeated failed logins.
    pub login_throttle: ThrottlePolicy,
    /// Where the client address (for the limits and session records) comes from.
    pub client_ip_source: ClientIpSource,
    /// Largest request body accepted, in bytes (413 beyond).
    pub body_limit_bytes: usize,
    /// How many password hashes run at once and how many may wait.
    pub hashing: QueuePolicy,
    /// Phone login by one-time code; `None` when `OTP_PROVIDER=off`.
    pub otp: Option<OtpConfig>,
    /// Mail for password resets and verification; `None` when `EMAIL_PROVIDER=off`.
    pub email: Option<EmailConfig>,
}

impl Config {
    /// Parses raw settings.
    pub fn from_raw(raw: &Settings) -> Result<Self, ConfigError> {
        let tokens = raw.tokens.parse()?;
        let keys = raw.keys.parse(tokens.access_token_ttl)?;
        let otp = otp::parse_otp(&raw.otp, &tokens.issuer)?;
        let email = email::parse_email(&raw.email, &tokens.issuer)?;
        Ok(Self {
            listen: raw.server.parse()?,
            cors: raw.server.cors()?,
            server_limits: raw.server.limits.clone(),
            database: raw.database.parse()?,
            signing: keys.signing,
            keys: keys.ring,
            jwks_max_age: keys.jwks_max_age,
            tokens,
            accounts: raw.login.accounts()?,
            login_throttle: raw.login.throttle()?,
            client_ip_source: raw.login.client_ip_source()?,
            body_limit_bytes: 64 * 1024,
            hashing: raw.hashing.parse()?,
            otp,
            email,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    /// The configuration of `issuer ARGS...`.
    pub(crate) fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli =
            Cli::try_parse_from(std::iter::once("issuer").chain(args.iter().copied())).unwrap();
        Config::from_raw(&cli.settings)
    }

    /// The one-line error of `issuer ARGS...`.
    pub(crate) fn error_for(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_parse() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.tokens.access_token_ttl, Duration::from_secs(900));
        assert_eq!(
            config.tokens.refresh_token_ttl,
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(config.tokens.audience, "api");
        assert_eq!(config.accounts.self_service_roles.len(), 2);
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
}
