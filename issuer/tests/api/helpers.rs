//! `spawn_app(&backend)`: one issuer per test, with its own database, port and manual clock.
//!
//! Tests that touch storage take a [`Backend`] and are declared once with [`backend_tests!`],
//! which runs each of them on SQLite and on PostgreSQL; both, and the per-test
//! [`TestDatabase`], come from the workspace's `test-support` crate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use issuer::cli::Cli;
use issuer::clock::ManualClock;
use issuer::config::Config;
use issuer::passwords::HashingStats;
use issuer::passwords::PasswordHashing;
use issuer::startup::Application;
use issuer::storage::Store;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::http::Http;

/// The `iss` every test app uses, and a password that meets the policy: the same as the
/// end-to-end suites'.
pub(crate) use test_support::stack::{ISSUER, PASSWORD};

/// One RSA key pair for the whole test binary: generating one per test would only add time.
pub(crate) fn shared_keys_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = TempDir::new().expect("temp dir").keep();
        issuer::keys::generate(&dir, false).expect("generate test keys");
        dir
    })
}

pub(crate) use test_support::backend_tests;
pub(crate) use test_support::database::{Backend, TestDatabase};

/// `issuer serve` on `database` with `keys_dir`, on a free port, logging at `rust_log`; add
/// settings with `.env` and start it with `test_support::process::Process::start`.
pub(crate) fn serve_command(
    database: &TestDatabase,
    keys_dir: &Path,
    rust_log: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_issuer"));
    command
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("DATABASE_URL", &database.url)
        .env("KEYS_DIR", keys_dir)
        .env("JWT_ISSUER", ISSUER)
        // However loaded the machine running the tests, no test is shed unless it asks to be.
        .env("PASSWORD_HASH_MAX_WAIT", "60s")
        .env("RUST_LOG", rust_log)
        .current_dir(database.dir.path());
    command
}

/// A running issuer.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub(crate) address: String,
    /// Client with no cookies, no redirects.
    pub(crate) client: reqwest::Client,
    /// The app's clock; tests move it.
    pub(crate) clock: ManualClock,
    /// The app's database handle.
    pub(crate) store: Store,
    /// The app's password hasher (for its stats).
    pub(crate) passwords: PasswordHashing,
    /// The app's database.
    pub(crate) database: TestDatabase,
    /// Codes of the local OTP provider (`--otp-provider local` only).
    pub(crate) otp_outbox: Option<issuer::otp::Outbox>,
    /// Mails of the local mail sender (`--email-provider local` only).
    pub(crate) mail_outbox: Option<issuer::email::MailOutbox>,
}

/// Spawns an issuer with the default test configuration.
pub(crate) async fn spawn_app(backend: &Backend) -> TestApp {
    spawn_app_with(backend, &[], |_| {}).await
}

/// Spawns an issuer with extra command-line flags (`--keys-dir` replaces the shared keys) and
/// a final edit of the parsed config.
pub(crate) async fn spawn_app_with(
    backend: &Backend,
    flags: &[&str],
    edit: impl FnOnce(&mut Config),
) -> TestApp {
    let database = TestDatabase::create(backend).await;
    spawn_app_on(database, flags, edit).await
}

/// Spawns an issuer on a database made by the caller.
pub(crate) async fn spawn_app_on(
    database: TestDatabase,
    flags: &[&str],
    edit: impl FnOnce(&mut Config),
) -> TestApp {
    let database_url = database.url.clone();
    let keys_dir = shared_keys_dir().display().to_string();
    let mut args = vec![
        "issuer",
        "--port",
        "0",
        "--database-url",
        &database_url,
        "--jwt-issuer",
        ISSUER,
    ];
    if !flags.contains(&"--keys-dir") {
        args.extend(["--keys-dir", &keys_dir]);
    }
    // However loaded the machine running the tests, no test is shed unless it asks to be.
    if !flags.contains(&"--password-hash-max-wait") {
        args.extend(["--password-hash-max-wait", "60s"]);
    }
    args.extend_from_slice(flags);
    let cli = Cli::try_parse_from(args).expect("test flags parse");
    let mut config = Config::from_raw(&cli.settings).expect("test config is valid");
    edit(&mut config);

    let clock = ManualClock::new(SystemTime::now());
    let app = Application::build_with_clock(config, Arc::new(clock.clone()))
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    let passwords = app.passwords().clone();
    let otp_outbox = app.otp_outbox().cloned();
    let mail_outbox = app.mail_outbox().cloned();
    tokio::spawn(app.run_until(std::future::pending()));

    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        clock,
        store,
        passwords,
        database,
        otp_outbox,
        mail_outbox,
    }
}

impl TestApp {
    /// Requests to the app, by path, with its client.
    pub(crate) fn http(&self) -> Http<'_> {
        Http::new(&self.client, &self.address)
    }

    /// `POST {path}` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http().post_json(path, body).await
    }

    /// `GET {path}`.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http().get(path).await
    }

    /// `POST /register` of `email` with `password`, whatever it answers.
    pub(crate) async fn register_as(&self, email: &str, password: &str) -> reqwest::Response {
        self.http().register(email, password).await
    }

    /// Registers `email` with [`PASSWORD`] and `role`, asserting 201.
    pub(crate) async fn register(&self, email: &str, role: Option<&str>) -> Value {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        let response = self.post_json("/register", &body).await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.expect("json body")
    }

    /// `POST /login`.
    pub(crate) async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/login", &json!({ "email": email, "password": password }))
            .await
    }

    /// The served JWKS, asserting 200.
    pub(crate) async fn jwks(&self) -> Value {
        self.http().jwks().await
    }

    /// The hasher's counters.
    pub(crate) fn hashing(&self) -> HashingStats {
        self.passwords.stats()
    }
}

/// Asserts the documented error shape and returns the description.
pub(crate) async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"], code, "{body}");
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["error", "error_description"], "exactly two fields");
    body["error_description"]
        .as_str()
        .expect("description")
        .to_owned()
}

/// Decodes one base64url segment.
pub(crate) fn b64(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(segment).expect("base64url")
}

/// Verifies an RS256 compact JWS with the `rsa` crate (not the library that signed it) against
/// an RSA JWK, and returns the decoded header and claims.
pub(crate) fn verify_rs256(token: &str, jwk: &Value) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(format!("{} segments", parts.len()));
    };
    let n = BigUint::from_bytes_be(&b64(jwk["n"].as_str().ok_or("no n")?));
    let e = BigUint::from_bytes_be(&b64(jwk["e"].as_str().ok_or("no e")?));
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::new(n, e).map_err(|e| e.to_string())?);
    let signature = Signature::try_from(b64(signature).as_slice()).map_err(|e| e.to_string())?;
    key.verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|e| format!("signature: {e}"))?;
    let parse = |s: &str| serde_json::from_slice::<Value>(&b64(s)).map_err(|e| e.to_string());
    Ok((parse(header)?, parse(claims)?))
}

impl TestApp {
    /// Registers `email` as a user and logs in, returning the token response.
    pub(crate) async fn signed_in(&self, email: &str) -> Value {
        self.register(email, None).await;
        self.logged_in(email).await
    }

    /// Logs `email` in (with [`PASSWORD`]), asserting 200, and returns the token response.
    pub(crate) async fn logged_in(&self, email: &str) -> Value {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.expect("json body")
    }

    /// `POST /refresh`.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// `POST /logout`.
    pub(crate) async fn logout(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/logout", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// A second, independent connection to the app's database, as another process would open
    /// (to look at it, lock it, or change its schema under the app).
    pub(crate) async fn second_connection(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.database.url)
            .await
            .expect("second connection")
    }

    /// Whether the app runs on PostgreSQL.
    pub(crate) fn on_postgres(&self) -> bool {
        self.database.url.starts_with("postgres")
    }

    /// Takes the write lock on a second connection, as a long transaction elsewhere would:
    /// reads go on, writes wait. `ROLLBACK` on the returned connection releases it.
    pub(crate) async fn lock_writes(&self) -> sqlx::AnyConnection {
        let mut connection = self.second_connection().await;
        let statements: &[&str] = if self.on_postgres() {
            &[
                "BEGIN",
                "LOCK TABLE users, sessions, refresh_tokens, login_failures IN EXCLUSIVE MODE",
            ]
        } else {
            &["BEGIN IMMEDIATE"]
        };
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(*statement))
                .execute(&mut connection)
                .await
                .expect("write lock");
        }
        connection
    }

    /// Asserts that `/revoked-sessions` lists exactly the sessions of these token responses.
    pub(crate) async fn assert_revoked(&self, sessions: &[&Value]) {
        let mut listed = self.revoked_sids().await;
        listed.sort();
        let mut expected: Vec<String> = sessions.iter().map(|tokens| sid(tokens)).collect();
        expected.sort();
        assert_eq!(listed, expected, "the revocation list");
    }

    /// Asserts that the refresh token of each token response is refused.
    pub(crate) async fn assert_refresh_refused(&self, sessions: &[&Value]) {
        for tokens in sessions {
            assert_error(
                self.refresh(refresh_token(tokens)).await,
                401,
                "invalid_grant",
            )
            .await;
        }
    }

    /// The `sid` list served at `/revoked-sessions`.
    pub(crate) async fn revoked_sids(&self) -> Vec<String> {
        let response = self.get("/revoked-sessions").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json body");
        serde_json::from_value(body["sids"].clone()).expect("sids is an array of strings")
    }
}

/// The claims of a JWT, unverified (for reading `sid`, `exp` in tests).
pub(crate) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three segments");
    serde_json::from_slice(&b64(payload)).expect("json claims")
}

/// Asserts a 200 token response that may not be cached, and returns its body.
pub(crate) async fn tokens(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("json body")
}

/// The refresh token of a token response.
pub(crate) fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

/// The `sid` claim of a token response's access token.
pub(crate) fn sid(tokens: &Value) -> String {
    claims_of(tokens["access_token"].as_str().expect("access_token"))["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

/// The header of a JWT, unverified.
pub(crate) fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a header segment");
    serde_json::from_slice(&b64(header)).expect("json header")
}

/// The `kid` in a JWT's header.
pub(crate) fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

impl TestApp {
    /// The kids of the served JWKS, in order.
    pub(crate) async fn jwks_kids(&self) -> Vec<String> {
        self.http().jwks_kids().await
    }

    /// Logs `email` in (with [`PASSWORD`]), asserting 200, and returns the access token.
    pub(crate) async fn access_token(&self, email: &str) -> String {
        self.logged_in(email).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

/// Asserts that a login of `a@example.com` and a registration of `b@example.com` both answer
/// 503 `temporarily_unavailable` (the database is away).
pub(crate) async fn assert_writes_unavailable(app: &TestApp) {
    assert_error(
        app.login("a@example.com", PASSWORD).await,
        503,
        "temporarily_unavailable",
    )
    .await;
    assert_error(
        app.register_as("b@example.com", PASSWORD).await,
        503,
        "temporarily_unavailable",
    )
    .await;
}
