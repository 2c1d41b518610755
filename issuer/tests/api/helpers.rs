//! `spawn_app()`: one issuer per test, with its own SQLite file, port and manual clock.

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

/// The `iss` every test app uses.
pub(crate) const ISSUER: &str = "http://issuer.test";
/// A password that meets the policy.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// One RSA key pair for the whole test binary: generating one per test would only add time.
pub(crate) fn shared_keys_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = TempDir::new().expect("temp dir").keep();
        issuer::keys::generate(&dir, false).expect("generate test keys");
        dir
    })
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
    /// Path of the SQLite file.
    pub(crate) db_path: PathBuf,
    _dir: TempDir,
}

/// Spawns an issuer with the default test configuration.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[], |_| {}).await
}

/// Spawns an issuer with extra command-line flags and a final edit of the parsed config.
pub(crate) async fn spawn_app_with(flags: &[&str], edit: impl FnOnce(&mut Config)) -> TestApp {
    let dir = TempDir::new().expect("temp dir");
    let db_path = dir.path().join("issuer.db");
    let database_url = format!("sqlite://{}", db_path.display());
    let keys_dir = shared_keys_dir().display().to_string();
    let mut args = vec![
        "issuer",
        "--port",
        "0",
        "--database-url",
        &database_url,
        "--keys-dir",
        &keys_dir,
        "--jwt-issuer",
        ISSUER,
    ];
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
        db_path,
        _dir: dir,
    }
}

impl TestApp {
    /// `POST {path}` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET {path}`.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
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

    /// The served JWKS.
    pub(crate) async fn jwks(&self) -> Value {
        let response = self.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json body")
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

    /// A second, independent connection to the app's SQLite file, as another process would
    /// open (to lock it, or to change its schema under the app).
    pub(crate) async fn second_connection(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        let url = format!("sqlite://{}", self.db_path.display());
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .expect("sqlite url");
        sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("second connection")
    }

    /// Takes SQLite's write lock on a second connection; `ROLLBACK` on it releases the lock.
    pub(crate) async fn lock_writes(&self) -> sqlx::SqliteConnection {
        let mut connection = self.second_connection().await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await
            .expect("write lock");
        connection
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
