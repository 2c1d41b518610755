//! What each subcommand does. `main` only parses the command line and prints the error.

use std::io::{self, BufRead};

use crate::accounts::{AccountError, create_account};
use crate::cli::{
    Cli, Command, KeysCommand, SessionCommand, SessionRevokeArgs, UserAddArgs, UserCommand,
};
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::config::{Config, ConfigError};
use crate::domain::{Email, Password, Phone, Role};
use crate::keys::lifecycle::Phase;
use crate::keys::{self, RsaSigningKey, manifest, rotation};
use crate::passwords::{PasswordHashing, QueuePolicy};
use crate::sessions::revocation_floor;
use crate::startup::{Application, StartupError};
use crate::storage::{
    Actor, EndReason, SessionScope, SessionSummary, Store, StoreError, UserQuery, UserRecord,
    UserSummary, UserUpdate,
};
use crate::time::{format_time, seconds};

/// A command failed. `Display` is the one line printed before exiting.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start, or a key, the database or the hasher could not be set up.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Serve(#[source] io::Error),
    /// A command-line value is not acceptable.
    #[error("invalid {flag}: {reason}")]
    InvalidArgument {
        /// The flag.
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// The account could not be created.
    #[error("cannot create user: {0}")]
    UserAdd(#[source] AccountError),
    /// A database operation failed.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
    /// The named account does not exist.
    #[error("no account with email, phone or id {0}")]
    NoSuchUser(String),
    /// `issuer healthcheck`: the server did not answer 200.
    #[error("{url} is not ready: {reason}")]
    NotReady {
        /// What was checked.
        url: String,
        /// The status it answered, or why there was no answer.
        reason: String,
    },
}

/// A key, database or hasher failure, reported as start-up reports it (the same one line).
fn setup<T>(result: Result<T, impl Into<StartupError>>) -> Result<T, CommandError> {
    result.map_err(|error| CommandError::Startup(error.into()))
}

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(Config::from_raw(&cli.settings)?).await,
        Command::Keygen { force, if_missing } => {
            keygen(&cli.settings.keys.keys_dir, force, if_missing)
        }
        Command::Healthcheck { url } => {
            let url = match url {
                Some(url) => url,
                None => format!("{}/readyz", cli.settings.server.local_url()?),
            };
            healthcheck(&url).await
        }
        Command::User(command) => user(Config::from_raw(&cli.settings)?, command).await,
        Command::Session(command) => session(Config::from_raw(&cli.settings)?, command).await,
        Command::Keys(command) => keys_command(&Config::from_raw(&cli.settings)?, command),
    }
}

/// `issuer keys list|rotate|retire`: file operations on KEYS_DIR, timed by the system clock.
fn keys_command(config: &Config, command: KeysCommand) -> Result<(), CommandError> {
    let settings = &config.keys;
    let timing = settings.timing(unix_seconds(SystemClock.now()));
    let dir = &settings.dir;
    match command {
        KeysCommand::List => {
            let manifest = setup(manifest::read_manifest(dir))?;
            let ttl = seconds(settings.token_ttl);
            println!("state\tkid\tcreated\tsigns_from\tsigns_until\tpublished_until\tfile");
            let optional = |at: Option<i64>| at.map_or_else(|| "-".to_owned(), format_time);
            for status in manifest.statuses(timing.now, ttl) {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    status.phase,
                    status.entry.kid,
                    format_time(status.entry.created_at),
                    format_time(status.entry.signs_from),
                    optional(status.signs_until),
                    optional(status.published_until),
                    dir.join(&status.entry.file).display(),
                );
            }
        }
        KeysCommand::Rotate { now } => {
            let rotation = setup(rotation::rotate(dir, timing, now))?;
            println!(
                "created key {} ({}, mode 0600): published now, signs from {}",
                rotation.kid,
                rotation.path.display(),
                format_time(rotation.signs_from)
            );
            for kid in rotation.cancelled {
                println!("withdrew key {kid}, which was waiting to sign");
            }
            for kid in rotation.deleted {
                println!("deleted removed key {kid}");
            }
        }
        KeysCommand::Retire { kid, unpublish } => {
            let retired = setup(rotation::retire(dir, &kid, timing, unpublish))?;
            if let Some((successor, published_at)) = &retired.promoted {
                println!("key {successor} signs from now");
                let published_for = timing.now.saturating_sub(*published_at);
                let max_age = seconds(config.jwks_max_age);
                if published_for < max_age {
                    println!(
                        "warning: {successor} was published only {published_for}s ago, less than JWKS_MAX_AGE; verifiers that have not seen it fetch the JWKS when its first token arrives"
                    );
                }
            }
            let until = retired.published_until.map(format_time);
            match (retired.was, retired.now, until) {
                (Phase::Next, _, _) => println!(
                    "key {} never signed and is withdrawn from the JWKS",
                    retired.kid
                ),
                (_, Phase::Removed, _) => println!(
                    "key {} no longer signs and is withdrawn from the JWKS now; tokens it signed stop verifying once verifiers refresh",
                    retired.kid
                ),
                (was, _, Some(until)) => println!(
                    "key {} {} and stays published until {until}",
                    retired.kid,
                    if was == Phase::Retired {
                        "was already retired"
                    } else {
                        "no longer signs"
                    }
                ),
                (_, _, None) => println!("key {} retired", retired.kid),
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), CommandError> {
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr(), "issuer listening");
    app.run_until_stopped().await.map_err(CommandError::Serve)
}

fn keygen(keys_dir: &std::path::Path, force: bool, if_missing: bool) -> Result<(), CommandError> {
    if let (true, Some(existing)) = (if_missing, keys::existing_key(keys_dir)) {
        println!("{} exists; no key written", existing.display());
        return Ok(());
    }
    let written = setup(keys::generate(keys_dir, force))?;
    // Loading what was written proves the server will accept it, and yields the kid.
    let key = setup(RsaSigningKey::load(keys_dir))?;
    println!(
        "wrote {} (mode 0600) and {}; kid {}",
        written.private_path.display(),
        written.public_path.display(),
        key.kid()
    );
    Ok(())
}

/// How long `issuer healthcheck` waits for the whole answer.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `issuer healthcheck`: GET `url`, which must answer 200.
async fn healthcheck(url: &str) -> Result<(), CommandError> {
    let not_ready = |reason: String| CommandError::NotReady {
        url: url.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(HEALTHCHECK_TIMEOUT)
        .build()
        .map_err(|e| not_ready(e.to_string()))?;
    let response = client.get(url).send().await.map_err(|e| {
        // reqwest's own text names only the URL; the cause says what went wrong.
        let cause =
            std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        not_ready(cause)
    })?;
    match response.status() {
        reqwest::StatusCode::OK => {
            println!("{url}: ready");
            Ok(())
        }
        status => Err(not_ready(format!("it answered {status}"))),
    }
}

async fn add_user(store: &Store, args: UserAddArgs) -> Result<(), CommandError> {
    let invalid = |flag, reason: String| CommandError::InvalidArgument { flag, reason };
    let email = Email::parse(&args.email).map_err(|e| invalid("--email", e.to_string()))?;
    let raw_password = match args.password {
        Some(password) => password.expose().to_owned(),
        None => read_password_line().map_err(|e| invalid("--password-stdin", e.to_string()))?,
    };
    let password =
        Password::parse(raw_password).map_err(|e| invalid("--password", e.to_string()))?;
    let role = Role::parse(&args.role).map_err(|e| invalid("--role", e.to_string()))?;

    let hashing = setup(PasswordHashing::new(QueuePolicy::unlimited(1)))?;
    let admission = hashing.admit().expect("an unlimited queue admits");
    let now = SystemClock.now();
    let account = create_account(store, admission, email, password, role, now, true)
        .await
        .map_err(CommandError::UserAdd)?;
    println!(
        "created user {} <{}> with role {}",
        account.id, account.email, account.role
    );
    Ok(())
}

async fn session(config: Config, command: SessionCommand) -> Result<(), CommandError> {
    let store = setup(Store::open(&config.database).await)?;
    let result = match command {
        SessionCommand::List { user } => list_sessions(&store, &user).await,
        SessionCommand::Revoke(args) => revoke_sessions(&store, args).await,
    };
    store.close().await;
    result
}

/// The account named by `--user`: a phone number (starting with `+`), an id, or an e-mail
/// address. A number is looked up as a login looks it up, so an account stored under its legacy
/// form is found (and moved to the canonical form).
async fn find_user(store: &Store, user: &str) -> Result<UserRecord, CommandError> {
    let invalid = |reason: String| CommandError::InvalidArgument {
        flag: "--user",
        reason,
    };
    let (found, name) = if let Ok(id) = uuid::Uuid::parse_str(user.trim()) {
        (store.find_user_by_id(id).await?, id.to_string())
    } else if user.trim_start().starts_with('+') {
        let phone = Phone::parse(user).map_err(|e| invalid(e.to_string()))?;
        let now = unix_seconds(SystemClock.now());
        (
            store.find_user_by_phone(&phone, now).await?,
            phone.to_string(),
        )
    } else {
        let email = Email::parse(user).map_err(|e| invalid(e.to_string()))?;
        (store.find_user_by_email(&email).await?, email.to_string())
    };
    found.ok_or(CommandError::NoSuchUser(name))
}

async fn list_sessions(store: &Store, email: &str) -> Result<(), CommandError> {
    let user = find_user(store, email).await?;
    print_sessions(&store.list_user_sessions(user.id).await?);
    Ok(())
}

/// Sessions as a tab-separated table, with a header line.
fn print_sessions(sessions: &[SessionSummary]) {
    println!("sid\tcreated\tlast_used\texpires\tstate\tclient_ip\tuser_agent");
    for session in sessions {
        let state = match &session.ended {
            Some((at, reason)) => format!("ended:{reason}@{}", format_time(*at)),
            None => "active".to_owned(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{state}\t{}\t{}",
            session.id,
            format_time(session.created_at),
            format_time(session.last_used_at),
            format_time(session.expires_at),
            session.client_ip.as_deref().unwrap_or("-"),
            session.user_agent.as_deref().unwrap_or("-"),
        );
    }
}

/// `issuer user add|list|show|set-role|disable|enable|delete`.
async fn user(config: Config, command: UserCommand) -> Result<(), CommandError> {
    let store = setup(Store::open(&config.database).await)?;
    let result = user_command(&store, command).await;
    store.close().await;
    result
}

async fn user_command(store: &Store, command: UserCommand) -> Result<(), CommandError> {
    let actor = Actor {
        name: "cli",
        client_ip: None,
        now: unix_seconds(SystemClock.now()),
    };
    let update = async |user: &str, update: UserUpdate<'_>| {
        let user = find_user(store, user).await?;
        let ended = store
            .update_user(user.id, &update, &actor)
            .await?
            .ok_or_else(|| CommandError::NoSuchUser(user.id.to_string()))?;
        Ok::<_, CommandError>((user, ended))
    };
    match command {
        UserCommand::Add(args) => add_user(store, args).await?,
        UserCommand::List { query, limit } => {
            let contains = query.unwrap_or_default().trim().to_lowercase();
            let query = UserQuery {
                contains: &contains,
                after: None,
                limit,
            };
            println!("id\temail\tphone\trole\tstate\tcreated");
            for user in store.list_users(&query).await? {
                print_user(&user);
            }
        }
        UserCommand::Show { user } => {
            let user = find_user(store, &user).await?;
            let summary = store
                .user_summary(user.id)
                .await?
                .ok_or_else(|| CommandError::NoSuchUser(user.id.to_string()))?;
            println!("id\temail\tphone\trole\tstate\tcreated");
            print_user(&summary);
            println!();
            print_sessions(&store.list_user_sessions(user.id).await?);
        }
        UserCommand::SetRole { user, role } => {
            let role = Role::parse(&role).map_err(|e| CommandError::InvalidArgument {
                flag: "ROLE",
                reason: e.to_string(),
            })?;
            let change = UserUpdate {
                role: Some(&role),
                ..UserUpdate::default()
            };
            let (user, _) = update(&user, change).await?;
            println!(
                "{} now has role {role} (in its tokens from their next refresh)",
                user.id
            );
        }
        UserCommand::Disable { user } => {
            let change = UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            };
            let (user, ended) = update(&user, change).await?;
            println!("disabled {}; ended {ended} session(s)", user.id);
        }
        UserCommand::Enable { user } => {
            let change = UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            };
            let (user, _) = update(&user, change).await?;
            println!("enabled {}", user.id);
        }
        UserCommand::VerifyEmail { user } => {
            let change = UserUpdate {
                email_verified: Some(true),
                ..UserUpdate::default()
            };
            let (user, _) = update(&user, change).await?;
            println!("marked the e-mail of {} verified", user.id);
        }
        UserCommand::Delete { user } => {
            let user = find_user(store, &user).await?;
            if !store
                .delete_user(user.id, revocation_floor(actor.now), &actor)
                .await?
            {
                return Err(CommandError::NoSuchUser(user.id.to_string()));
            }
            println!("deleted {}", user.id);
        }
    }
    Ok(())
}

/// One account as a tab-separated line.
fn print_user(user: &UserSummary) {
    let state = match user.disabled_at {
        Some(at) => format!("disabled@{}", format_time(at)),
        None => "active".to_owned(),
    };
    println!(
        "{}\t{}\t{}\t{}\t{state}\t{}",
        user.id,
        user.email.as_deref().unwrap_or("-"),
        user.phone.as_deref().unwrap_or("-"),
        user.role,
        format_time(user.created_at),
    );
}

async fn revoke_sessions(store: &Store, args: SessionRevokeArgs) -> Result<(), CommandError> {
    let now = unix_seconds(SystemClock.now());
    let ended = match (args.user, args.sid) {
        (Some(email), _) => {
            let user = find_user(store, &email).await?;
            store
                .end_sessions(SessionScope::User(user.id), EndReason::Admin, now)
                .await?
        }
        (None, Some(sid)) => {
            let sid = uuid::Uuid::parse_str(&sid).map_err(|e| CommandError::InvalidArgument {
                flag: "--sid",
                reason: e.to_string(),
            })?;
            store
                .end_sessions(SessionScope::Session(sid), EndReason::Admin, now)
                .await?
        }
        (None, None) => 0,
    };
    println!("ended {ended} session(s)");
    Ok(())
}

fn read_password_line() -> io::Result<String> {
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
