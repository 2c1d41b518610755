//! Command-line interface: `issuer serve` (default), `issuer keygen`, `issuer user add`,
//! `issuer session list|revoke`, `issuer keys list|rotate|retire`.
//!
//! Every setting is a flag and an environment variable of the same name (`--port` / `PORT`).
//! Values arrive here as raw strings and are parsed by [`crate::config`], so that a bad value is
//! reported in one line that names the variable, whichever way it was given. Values that are or
//! may hold secrets (`JWT_SECRET`, `DATABASE_URL`, `--password`) are [`Secret`]s, so that `Debug`
//! of the parsed command line shows none of them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Secret;

/// The issuer's command line.
#[derive(Debug, Parser)]
#[command(
    name = "issuer",
    version,
    about = "Logs users in and signs short-lived access tokens."
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub settings: RawSettings,
    /// Logs and error reporting (`LOG_FORMAT`, `SENTRY_*`) of `serve`.
    #[command(flatten)]
    pub telemetry: telemetry::TelemetryArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Write a new RSA-2048 key pair (`private.pem`, `public.pem`) into KEYS_DIR.
    Keygen {
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and end sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage the signing key ring in KEYS_DIR.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `issuer keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show every key: its state (next, current, retired, removed), kid and dates.
    List,
    /// Create the next key: published now, signing from KEY_PUBLISH_LEAD from now (at once in
    /// an empty KEYS_DIR). Running issuers pick it up without a restart.
    Rotate {
        /// Sign with the new key at once (after a compromise): verifiers that have not seen it
        /// fetch the JWKS on first sight of its kid.
        #[arg(long)]
        now: bool,
    },
    /// Stop signing with a key. It stays published until its tokens have expired; a key that
    /// never signed is withdrawn at once. Retiring the current key makes the next key sign.
    Retire {
        /// The key's kid (or a unique prefix of it). A kid is base64url, so it may start with
        /// `-`: that is read as the kid, not as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Also withdraw it from the JWKS now (a compromised key): its tokens stop verifying
        /// as soon as verifiers refresh.
        #[arg(long)]
        unpublish: bool,
    },
}

/// `issuer session ...`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a user's sessions, newest first.
    List {
        /// The account's e-mail address, or phone number (E.164, starting with `+`).
        #[arg(long)]
        user: String,
    },
    /// End sessions now: their refresh tokens stop working at once, and their access tokens are
    /// refused by verifiers that poll `/revoked-sessions` within their poll interval.
    Revoke(SessionRevokeArgs),
}

/// Arguments of `issuer session revoke`: exactly one of `--user` or `--sid`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SessionRevokeArgs {
    /// End every session of this account (e-mail address, or phone number starting with `+`).
    #[arg(long)]
    pub user: Option<String>,
    /// End this session (the `sid` claim).
    #[arg(long)]
    pub sid: Option<String>,
}

/// `issuer user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account with any role (the only way to grant roles outside SELF_SERVICE_ROLES).
    Add(UserAddArgs),
}

/// Arguments of `issuer user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The account's e-mail address.
    #[arg(long)]
    pub email: String,
    /// The account's password (at least 8 characters). Prefer `--password-stdin` on shared hosts,
    /// where the process list is visible to others.
    #[arg(
        long,
        required_unless_present = "password_stdin",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<Secret>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The account's role.
    #[arg(long)]
    pub role: String,
}

/// Raw settings as given by flags or environment; see [`crate::config::Config::from_raw`].
#[derive(Debug, Clone, Args)]
pub struct RawSettings {
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "3000", global = true)]
    pub port: String,
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
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value = "10",
        global = true
    )]
    pub database_max_connections: String,
    /// How long a request waits for a free (or new) connection before answering 503.
    #[arg(
        long,
        env = "DATABASE_ACQUIRE_TIMEOUT",
        default_value = "5s",
        global = true
    )]
    pub database_acquire_timeout: String,
    /// Longest a statement may run or wait for a lock before the request answers 503
    /// (PostgreSQL `statement_timeout` and `lock_timeout`; SQLite's busy timeout).
    #[arg(
        long,
        env = "DATABASE_STATEMENT_TIMEOUT",
        default_value = "5s",
        global = true
    )]
    pub database_statement_timeout: String,
    /// Directory holding the RSA signing keys: a key ring (`keyring.json`, managed with
    /// `issuer keys`) or a single `private.pem` (PKCS#1 or PKCS#8).
    #[arg(long, env = "KEYS_DIR", default_value = "keys", global = true)]
    pub keys_dir: PathBuf,
    /// How long verifiers may cache the JWKS (its `Cache-Control: max-age`).
    #[arg(long, env = "JWKS_MAX_AGE", default_value = "5m", global = true)]
    pub jwks_max_age: String,
    /// How long `issuer keys rotate` publishes a new key before it signs; at least
    /// JWKS_MAX_AGE.
    #[arg(long, env = "KEY_PUBLISH_LEAD", default_value = "1h", global = true)]
    pub key_publish_lead: String,
    /// Rotate the signing key on this schedule, e.g. `30d` (`off`: only with
    /// `issuer keys rotate`). Needs a writable KEYS_DIR.
    #[arg(
        long,
        env = "KEY_ROTATION_INTERVAL",
        default_value = "off",
        global = true
    )]
    pub key_rotation_interval: String,
    /// How often a running issuer checks KEYS_DIR for changes.
    #[arg(
        long,
        env = "KEYS_RELOAD_INTERVAL",
        default_value = "10s",
        global = true
    )]
    pub keys_reload_interval: String,
    /// `RS256` or `HS256`.
    #[arg(long, env = "JWT_ALGORITHM", default_value = "RS256", global = true)]
    pub jwt_algorithm: String,
    /// HS256 shared secret, at least 32 bytes.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,
    /// The `iss` claim; also the public base URL used in discovery.
    #[arg(
        long,
        env = "JWT_ISSUER",
        default_value = "http://localhost:3000",
        global = true
    )]
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
    #[arg(
        long,
        env = "REFRESH_GRACE_PERIOD",
        default_value = "5s",
        global = true
    )]
    pub refresh_grace_period: String,
    /// A session not refreshed for this long can no longer refresh (`off`: no idle expiry).
    #[arg(long, env = "SESSION_IDLE_TTL", default_value = "off", global = true)]
    pub session_idle_ttl: String,
    /// How often ended and expired sessions are deleted.
    #[arg(
        long,
        env = "SESSION_PRUNE_INTERVAL",
        default_value = "10m",
        global = true
    )]
    pub session_prune_interval: String,
    /// Failed logins allowed per account before back-off starts.
    #[arg(
        long,
        env = "LOGIN_ACCOUNT_FREE_ATTEMPTS",
        default_value = "5",
        global = true
    )]
    pub login_account_free_attempts: String,
    /// Failed logins allowed per client address (IPv6: per /64) before back-off starts.
    #[arg(
        long,
        env = "LOGIN_CLIENT_FREE_ATTEMPTS",
        default_value = "20",
        global = true
    )]
    pub login_client_free_attempts: String,
    /// First back-off delay; it doubles with each further failure.
    #[arg(long, env = "LOGIN_BACKOFF_BASE", default_value = "1s", global = true)]
    pub login_backoff_base: String,
    /// Longest back-off delay (no lock-out lasts longer).
    #[arg(long, env = "LOGIN_BACKOFF_MAX", default_value = "15m", global = true)]
    pub login_backoff_max: String,
    /// Registrations accepted from one client address (IPv6: per /64) per hour.
    #[arg(
        long,
        env = "REGISTRATIONS_PER_CLIENT",
        default_value = "20",
        global = true
    )]
    pub registrations_per_client: String,
    /// Where the client address comes from: `ConnectInfo` (the TCP peer, the default) or, only
    /// behind a proxy that sets it, `RightmostXForwardedFor`, `XRealIp`, `CfConnectingIp`,
    /// `TrueClientIp`, `FlyClientIp`, `CloudFrontViewerAddress`, `XEnvoyExternalAddress`.
    #[arg(
        long,
        env = "CLIENT_IP_SOURCE",
        default_value = "ConnectInfo",
        global = true
    )]
    pub client_ip_source: String,
    /// Comma-separated roles that `POST /register` may grant; the first is the default.
    #[arg(
        long,
        env = "SELF_SERVICE_ROLES",
        default_value = "user,raider",
        global = true
    )]
    pub self_service_roles: String,
    /// Phone login (`OTP_*`, `TWILIO_*`).
    #[command(flatten)]
    pub otp: RawOtpSettings,
}

/// Raw settings of phone login; see [`crate::config::OtpConfig`].
#[derive(Debug, Clone, Args)]
pub struct RawOtpSettings {
    /// Phone login by SMS code: `off`, `twilio` (Twilio Verify) or `local` (development only:
    /// codes are written to the log).
    #[arg(long, env = "OTP_PROVIDER", default_value = "off", global = true)]
    pub otp_provider: String,
    /// Twilio account SID (`AC...`), the basic-auth user.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", global = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token, the basic-auth password.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, global = true)]
    pub twilio_auth_token: Option<Secret>,
    /// Twilio Verify service SID (`VA...`).
    #[arg(long, env = "TWILIO_VERIFY_SERVICE_SID", global = true)]
    pub twilio_verify_service_sid: Option<String>,
    /// Base URL of the Twilio Verify API.
    #[arg(
        long,
        env = "TWILIO_VERIFY_BASE_URL",
        default_value = "https://verify.twilio.com",
        global = true
    )]
    pub twilio_verify_base_url: String,
    /// Role of the accounts that phone login creates.
    #[arg(long, env = "OTP_ROLE", default_value = "user", global = true)]
    pub otp_role: String,
    /// Local provider: how long a code may be used.
    #[arg(long, env = "OTP_CODE_TTL", default_value = "5m", global = true)]
    pub otp_code_ttl: String,
    /// Local provider: checks allowed per code.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value = "5", global = true)]
    pub otp_max_attempts: String,
    /// Codes sent to one phone per hour.
    #[arg(long, env = "OTP_SENDS_PER_PHONE", default_value = "5", global = true)]
    pub otp_sends_per_phone: String,
    /// Codes requested by one client address (IPv6: per /64) per hour.
    #[arg(
        long,
        env = "OTP_SENDS_PER_CLIENT",
        default_value = "20",
        global = true
    )]
    pub otp_sends_per_client: String,
    /// Codes checked for one phone per hour.
    #[arg(
        long,
        env = "OTP_CHECKS_PER_PHONE",
        default_value = "10",
        global = true
    )]
    pub otp_checks_per_phone: String,
    /// Codes checked by one client address (IPv6: per /64) per hour, whatever the numbers.
    #[arg(
        long,
        env = "OTP_CHECKS_PER_CLIENT",
        default_value = "30",
        global = true
    )]
    pub otp_checks_per_client: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn retire_args(args: &[&str]) -> (String, bool) {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Some(Command::Keys(KeysCommand::Retire { kid, unpublish })) => (kid, unpublish),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_kid_starting_with_a_hyphen_is_a_kid_not_an_option() {
        assert_eq!(
            retire_args(&["issuer", "keys", "retire", "-Xk3F"]),
            ("-Xk3F".to_owned(), false)
        );
        assert_eq!(
            retire_args(&["issuer", "keys", "retire", "-Xk3F", "--unpublish"]),
            ("-Xk3F".to_owned(), true)
        );
        assert_eq!(
            retire_args(&["issuer", "keys", "retire", "--unpublish", "-Xk3F"]),
            ("-Xk3F".to_owned(), true)
        );
    }
}
