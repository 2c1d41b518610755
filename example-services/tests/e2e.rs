//! The walkthrough of the README, end to end: the real `issuer`, `user-service` and
//! `raider-service` binaries on free ports, talking HTTP.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Bound on waiting for a process to say it listens; a healthy start takes well under a second.
const PATIENCE: Duration = Duration::from_secs(60);
const ISSUER: &str = "http://issuer.test";
const PASSWORD: &str = "correct horse battery";

/// The issuer binary: built by cargo beside this test's binaries when the whole workspace is
/// tested; built here when only this package is.
fn issuer_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_exe = std::env::current_exe().expect("test binary path");
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        let binary = profile_dir.join("issuer");
        if !binary.exists() {
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "-p", "issuer", "--bin", "issuer"]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(build.status().expect("run cargo build").success());
        }
        binary
    })
}

/// A running binary; killed when dropped.
struct Process {
    child: Child,
    base_url: String,
    /// The rest of its stderr, kept draining so the process never blocks on a full pipe.
    _log: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `program` with only `env`, and waits for its `listening address=` log line.
    fn start(program: &Path, args: &[&str], env: &[(&str, String)], dir: &Path) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start process");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let address = loop {
            let line = log
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("{} never said it was listening", program.display()));
            if let Some((_, rest)) = line.split_once("listening address=") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        Self {
            child,
            base_url: format!("http://{address}"),
            _log: log,
        }
    }

    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An issuer with its own keys and database in a temporary directory.
struct Issuer {
    process: Process,
    _dir: TempDir,
}

impl Issuer {
    fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// An issuer with `extra` environment (e.g. HS256 mode).
    fn start_with(port: u16, extra: &[(&'static str, String)]) -> Self {
        let dir = TempDir::new().unwrap();
        let keygen = Command::new(issuer_binary())
            .args(["keygen", "--keys-dir", "keys"])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(keygen.status.success(), "{keygen:?}");
        let mut env = vec![
            ("PORT", port.to_string()),
            ("JWT_ISSUER", ISSUER.to_owned()),
        ];
        env.extend_from_slice(extra);
        let process = Process::start(issuer_binary(), &["serve"], &env, dir.path());
        Self { process, _dir: dir }
    }

    fn url(&self) -> &str {
        &self.process.base_url
    }

    fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url())
    }
}

fn service(name: &str, jwks_url: &str) -> Process {
    service_with(name, jwks_url, &[])
}

/// A service verifying with `jwks_url`, with `extra` environment.
fn service_with(name: &str, jwks_url: &str, extra: &[(&'static str, String)]) -> Process {
    let mut env = vec![("JWT_JWKS_URL", jwks_url.to_owned())];
    env.extend_from_slice(extra);
    service_on(name, &env)
}

/// A service configured by `env` alone (plus port and issuer).
fn service_on(name: &str, env: &[(&'static str, String)]) -> Process {
    let program = match name {
        "user-service" => env!("CARGO_BIN_EXE_user-service"),
        _ => env!("CARGO_BIN_EXE_raider-service"),
    };
    let env = [
        vec![("PORT", "0".to_owned()), ("JWT_ISSUER", ISSUER.to_owned())],
        env.to_vec(),
    ]
    .concat();
    Process::start(Path::new(program), &[], &env, &std::env::temp_dir())
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> reqwest::Response {
    client.post(url).json(body).send().await.unwrap()
}

/// Registers `email` with `role` and logs in; returns the access token.
async fn account(client: &reqwest::Client, issuer: &str, email: &str, role: &str) -> String {
    let credentials = json!({ "email": email, "password": PASSWORD });
    let mut registration = credentials.clone();
    registration["role"] = json!(role);
    let registered = post(client, format!("{issuer}/register"), &registration).await;
    assert_eq!(registered.status(), 201);
    let login = post(client, format!("{issuer}/login"), &credentials).await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(client: &reqwest::Client, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = client.post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_walkthrough_books_as_a_user_and_accepts_as_a_raider() {
    let issuer = Issuer::start(0);
    let users = service("user-service", &issuer.jwks_url());
    let raiders = service("raider-service", &issuer.jwks_url());
    let client = reqwest::Client::new();
    let alice = account(&client, issuer.url(), "alice@example.com", "user").await;
    let bob = account(&client, issuer.url(), "bob@example.com", "raider").await;
    let book = format!("{}/book", users.base_url);
    let accept = format!("{}/accept-booking", raiders.base_url);

    let booked = call(&client, book.clone(), Some(&alice)).await;
    assert_eq!(booked.status(), 200);
    assert_eq!(
        booked.text().await.unwrap(),
        r#"{"success":true,"message":"Booking successful","user":"alice@example.com"}"#
    );
    let accepted = call(&client, accept.clone(), Some(&bob)).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        accepted.text().await.unwrap(),
        r#"{"success":true,"message":"Booking accepted","raider":"bob@example.com"}"#
    );

    let wrong_role = call(&client, accept.clone(), Some(&alice)).await;
    assert_eq!(wrong_role.status(), 403);
    assert_eq!(
        wrong_role.text().await.unwrap(),
        r#"{"error":"insufficient_scope","error_description":"the token carries none of the roles this route needs (raider)"}"#
    );
    let missing = call(&client, book.clone(), None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let (signed, signature) = alice.rsplit_once('.').unwrap();
    let tampered_signature = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{signed}.{tampered_signature}{}", &signature[1..]);
    let refused = call(&client, book, Some(&tampered)).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.text().await.unwrap(),
        r#"{"error":"invalid_token","error_description":"the token signature is invalid"}"#
    );

    for process in [users, raiders] {
        let health = client
            .get(format!("{}/healthz", process.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
        assert!(process.terminate().success(), "a clean exit on SIGTERM");
    }
}

#[tokio::test]
async fn refresh_then_logout_and_the_service_refuses_the_sessions_access_tokens() {
    let issuer = Issuer::start(0);
    let users = service_with(
        "user-service",
        &issuer.jwks_url(),
        &[
            (
                "JWT_REVOCATION_URL",
                format!("{}/revoked-sessions", issuer.url()),
            ),
            ("JWT_REVOCATION_POLL_INTERVAL", "1s".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    account(&client, issuer.url(), "alice@example.com", "user").await;
    let credentials = json!({ "email": "alice@example.com", "password": PASSWORD });
    let login: Value = post(&client, format!("{}/login", issuer.url()), &credentials)
        .await
        .json()
        .await
        .unwrap();
    let refreshed = post(
        &client,
        format!("{}/refresh", issuer.url()),
        &json!({ "refresh_token": login["refresh_token"] }),
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let book = format!("{}/book", users.base_url);
    for token in [&login["access_token"], &refreshed["access_token"]] {
        let booked = call(&client, book.clone(), token.as_str()).await;
        assert_eq!(booked.status(), 200);
    }

    let logout = post(
        &client,
        format!("{}/logout", issuer.url()),
        &json!({ "refresh_token": refreshed["refresh_token"] }),
    )
    .await;
    assert_eq!(logout.status(), 204);
    // Real processes, real time: wait (bounded) for the poll interval to pass.
    let deadline = std::time::Instant::now() + PATIENCE;
    let refused = loop {
        let response = call(&client, book.clone(), refreshed["access_token"].as_str()).await;
        if response.status() == 401 {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the logout never reached the service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        refused.text().await.unwrap(),
        r#"{"error":"invalid_token","error_description":"the token's session has ended"}"#
    );
    let first = call(&client, book, login["access_token"].as_str()).await;
    assert_eq!(first.status(), 401, "every access token of the session");
}

#[tokio::test]
async fn a_token_from_another_issuers_key_is_refused() {
    let issuer = Issuer::start(0);
    let rogue = Issuer::start(0);
    let users = service("user-service", &issuer.jwks_url());
    let client = reqwest::Client::new();
    // Same iss and aud, same claims, but signed by a key that is not in the issuer's JWKS.
    let forged = account(&client, rogue.url(), "mallory@example.com", "user").await;

    let refused = call(&client, format!("{}/book", users.base_url), Some(&forged)).await;

    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "the token was signed by an unknown key"
    );
}

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes-for-hs256";

/// An issuer in HS256 mode with [`SECRET`].
fn hs256_issuer() -> Issuer {
    Issuer::start_with(
        0,
        &[
            ("JWT_ALGORITHM", "HS256".to_owned()),
            ("JWT_SECRET", SECRET.to_owned()),
        ],
    )
}

/// The `alg` in a token's header.
fn alg_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn hs256_mode_works_end_to_end_and_each_mode_refuses_the_others_tokens() {
    let hs256 = hs256_issuer();
    let rs256 = Issuer::start(0);
    let secret_only = service_on("user-service", &[("JWT_SECRET", SECRET.to_owned())]);
    let jwks_only = service("user-service", &rs256.jwks_url());
    let client = reqwest::Client::new();
    let shared = account(&client, hs256.url(), "alice@example.com", "user").await;
    let signed = account(&client, rs256.url(), "alice@example.com", "user").await;
    assert_eq!(alg_of(&shared), "HS256");
    assert_eq!(alg_of(&signed), "RS256");
    let public_key = client
        .get(format!("{}/public-key", hs256.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(public_key.status(), 404);

    let book = |service: &Process| format!("{}/book", service.base_url);
    let booked = call(&client, book(&secret_only), Some(&shared)).await;
    assert_eq!(booked.status(), 200);
    assert_eq!(
        booked.text().await.unwrap(),
        r#"{"success":true,"message":"Booking successful","user":"alice@example.com"}"#
    );
    for (service, foreign) in [(&secret_only, &signed), (&jwks_only, &shared)] {
        let refused = call(&client, book(service), Some(foreign)).await;
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    assert_eq!(
        call(&client, book(&jwks_only), Some(&signed))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_migration_mode_accepts_both_and_refuses_hs256_keyed_with_the_public_key() {
    let hs256 = hs256_issuer();
    let rs256 = Issuer::start(0);
    let both = service_with(
        "user-service",
        &rs256.jwks_url(),
        &[("JWT_SECRET", SECRET.to_owned())],
    );
    let client = reqwest::Client::new();
    let shared = account(&client, hs256.url(), "alice@example.com", "user").await;
    let signed = account(&client, rs256.url(), "alice@example.com", "user").await;
    let url = format!("{}/book", both.base_url);
    assert_eq!(
        call(&client, url.clone(), Some(&shared)).await.status(),
        200
    );
    assert_eq!(
        call(&client, url.clone(), Some(&signed)).await.status(),
        200
    );

    // Algorithm confusion: the RS256 token's claims and kid, re-signed with HS256 using the
    // issuer's public key (which anyone can fetch) as the HMAC secret.
    let pem = client
        .get(format!("{}/public-key", rs256.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(&signed).unwrap().kid;
    for secret in [pem.as_str(), pem.trim_end()] {
        let forged = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let refused = call(&client, url.clone(), Some(&forged)).await;
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error_description"], "the token signature is invalid");
    }
}

/// A port nothing listens on yet: bound, read and released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn services_answer_503_until_a_late_issuer_comes_up_then_recover_by_themselves() {
    let port = free_port();
    let users = service(
        "user-service",
        &format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
    );
    let client = reqwest::Client::new();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
    let shaped = format!("{header}.e30.AAAA");
    let book = format!("{}/book", users.base_url);

    let early = call(&client, book.clone(), Some(&shaped)).await;
    assert_eq!(early.status(), 503);
    let retry_after: u64 = early.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let ready = client
        .get(format!("{}/readyz", users.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    let issuer = Issuer::start(port);
    let alice = account(&client, issuer.url(), "alice@example.com", "user").await;

    // A client that honours Retry-After, as the 503 asks.
    let mut attempts = 0;
    let booked = loop {
        let response = call(&client, book.clone(), Some(&alice)).await;
        if response.status() != 503 || attempts == 20 {
            break response;
        }
        attempts += 1;
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(wait)).await;
    };
    assert_eq!(booked.status(), 200);
    let ready = client
        .get(format!("{}/readyz", users.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[test]
fn conflicting_key_settings_stop_start_up_with_one_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .env_clear()
        .env(
            "JWT_JWKS_URL",
            "http://localhost:3000/.well-known/jwks.json",
        )
        .env("JWT_PUBLIC_KEY_FILE", "keys/public.pem")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "user-service: error: set only one of JWT_JWKS_URL and JWT_PUBLIC_KEY_FILE\n"
    );
}
