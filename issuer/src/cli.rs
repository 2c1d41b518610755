//! Command-line interface: `issuer serve` (default), `issuer keygen`, `issuer user
//! add|list|show|set-role|disable|enable|verify-email|delete`,
//! `issuer session list|revoke`, `issuer keys list|rotate|retire`, `issuer healthcheck`.
//!
//! This module holds the subcommands; the settings every subcommand shares are declared, by
//! feature, in [`crate::config`]. Values that are or may hold secrets (`JWT_SECRET`,
//! `DATABASE_URL`, `--password`) are [`Secret`]s, so that `Debug` of the parsed command line
//! shows none of them.

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::secret::Secret;

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
    pub settings: Settings,
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
        #[arg(long, conflicts_with = "if_missing")]
        force: bool,
        /// Write nothing, and succeed, when KEYS_DIR already holds a key (`private.pem` or a
        /// key ring): for a set-up step that runs before every start (compose.yaml).
        #[arg(long)]
        if_missing: bool,
    },
    /// Exit 0 when the issuer on this host answers 200 on `/readyz`, 1 otherwise: a container
    /// health check for images without curl. Reads HOST and PORT like `serve`.
    Healthcheck {
        /// Check this URL instead (default: `http://127.0.0.1:$PORT/readyz`).
        #[arg(long)]
        url: Option<String>,
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

/// `issuer user ...`: every change but `add` writes a row to the audit trail (actor `cli`),
/// as the admin API does.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account with any role (the only way to grant roles outside SELF_SERVICE_ROLES).
    Add(UserAddArgs),
    /// List accounts in creation order: id, e-mail, phone, role, state, created.
    List {
        /// Only accounts whose e-mail or phone contains this (case-insensitive).
        #[arg(long)]
        query: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
    },
    /// Show one account and its sessions.
    Show {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
    },
    /// Give an account a role (any, `admin` included); its tokens carry it from their next
    /// refresh.
    SetRole {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
        /// The new role.
        role: String,
    },
    /// Disable an account: no login, refresh or phone login, and every session ends now.
    Disable {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
    },
    /// Mark an account's e-mail verified (e.g. accounts made before REQUIRE_EMAIL_VERIFICATION
    /// was turned on).
    VerifyEmail {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
    },
    /// Delete an account and every row of it; its sessions stay on the revocation list until
    /// their access tokens expire, and its e-mail can register again.
    Delete {
        /// The account: e-mail address, phone number (starting with `+`) or id.
        user: String,
    },
}

/// Arguments of `issuer user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The account's e-mail address.
    #[arg(long)]
    pub email: String,
    /// The account's password (at least 8 characters). Prefer `--password-stdin` on shared hosts,
    /// where the process list is visible to others.
    #[arg(long, required_unless_present = "password_stdin", conflicts_with = "password_stdin")]
    pub password: Option<Secret>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The account's role.
    #[arg(long)]
    pub role: String,
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
