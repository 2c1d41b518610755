//! Secrets never reach the logs or an error body. A real `issuer serve` logging at
//! `RUST_LOG=trace` goes through every flow that handles a password, a token or key material,
//! and afterwards its whole output (stdout and stderr) is searched for each of them.

use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::process::Process;

use crate::helpers::{Backend, TestDatabase, backend_tests, serve_command};
use crate::keys::KeysDir;

const PASSWORD: &str = "Canary-Passw0rd-never-logged";
const WRONG_PASSWORD: &str = "Wrong-Canary-Passw0rd-never-logged";
const JWT_SECRET: &str = "canary-hs256-secret-of-at-least-32-bytes-never-logged";

/// A secret the test handled, and what it is (for the failure message).
struct Secret {
    what: String,
    value: String,
}

fn secret(what: impl Into<String>, value: impl Into<String>) -> Secret {
    Secret {
        what: what.into(),
        value: value.into(),
    }
}

/// Adds the tokens of a token response, and the access token's signature, to `secrets`.
fn keep_tokens(secrets: &mut Vec<Secret>, tokens: &Value, name: &str) {
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let signature = access.rsplit('.').next().unwrap();
    secrets.push(secret(format!("the {name} access token"), access));
    secrets.push(secret(
        format!("the {name} access token's signature"),
        signature,
    ));
    secrets.push(secret(format!("the {name} refresh token"), refresh));
}

/// `issuer serve` at trace level on a fresh database; a replayed refresh token ends its
/// session at once (no grace window), so reuse detection runs too.
fn start(database: &TestDatabase, keys_dir: &Path, env: &[(&str, &str)]) -> Process {
    let mut command = serve_command(database, keys_dir, "trace");
    command
        .env("REFRESH_GRACE_PERIOD", "0s")
        .envs(env.iter().copied());
    Process::start(command)
}

/// Everything a client sends or receives that must stay secret, gathered while driving the
/// issuer through register, a wrong and a right login, refresh, a replayed refresh token,
/// logout, malformed bodies holding the password or a token, and requests with a bearer token.
/// Asserts on the way that no error body repeats any of them.
async fn drive_every_flow(issuer: &Process) -> Vec<Secret> {
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", issuer.base_url);
    let mut secrets = vec![
        secret("the password", PASSWORD),
        secret("the wrong password", WRONG_PASSWORD),
    ];
    let mut errors: Vec<String> = Vec::new();
    let credentials = json!({ "email": "alice@example.com", "password": PASSWORD });

    assert_eq!(issuer.post("/register", &credentials).await.status(), 201);
    let wrong = json!({ "email": "alice@example.com", "password": WRONG_PASSWORD });
    let refused = issuer.post("/login", &wrong).await;
    assert_eq!(refused.status(), 401);
    errors.push(refused.text().await.unwrap());
    let first: Value = issuer
        .post("/login", &credentials)
        .await
        .json()
        .await
        .unwrap();
    keep_tokens(&mut secrets, &first, "first");
    let first_refresh = json!({ "refresh_token": first["refresh_token"] });
    let refreshed = issuer.post("/refresh", &first_refresh).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    keep_tokens(&mut secrets, &refreshed, "refreshed");
    let replayed = issuer.post("/refresh", &first_refresh).await;
    assert_eq!(replayed.status(), 401, "reuse ends the session");
    errors.push(replayed.text().await.unwrap());
    let second: Value = issuer
        .post("/login", &credentials)
        .await
        .json()
        .await
        .unwrap();
    keep_tokens(&mut secrets, &second, "second");
    let logout = json!({ "refresh_token": second["refresh_token"] });
    assert_eq!(issuer.post("/logout", &logout).await.status(), 204);

    let access = first["access_token"].as_str().unwrap();
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let malformed = [
        (
            "/login",
            format!(r#"{{"email":"alice@example.com","password":"{PASSWORD}""#),
        ),
        (
            "/login",
            format!(r#"{{"email":{{"password":"{PASSWORD}"}},"password":1}}"#),
        ),
        ("/register", format!(r#""{PASSWORD}""#)),
        ("/refresh", format!(r#"{{"refresh_token":["{refresh}"]}}"#)),
        (
            "/logout",
            format!(r#"{{"refresh_token":{{"{refresh}":"{access}"}}}}"#),
        ),
        ("/refresh", format!(r#""{refresh}""#)),
    ];
    for (path, body) in malformed {
        let response = client
            .post(url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        errors.push(response.text().await.unwrap());
    }
    for path in ["/healthz", "/no-such-endpoint"] {
        let response = client
            .get(url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        errors.push(response.text().await.unwrap());
    }

    for body in &errors {
        for secret in &secrets {
            assert!(
                !body.contains(&secret.value),
                "an error body repeats {}: {body}",
                secret.what
            );
        }
    }
    secrets
}

/// Stops the issuer and asserts that its output holds none of `secrets`, and that it really
/// logged the flows (at debug and trace level too).
fn assert_output_holds_no_secret(issuer: Process, secrets: &[Secret]) {
    let (status, output) = issuer.terminate_with_output();
    assert!(status.success(), "{status:?}");
    for secret in secrets {
        assert!(
            !output.contains(&secret.value),
            "the output holds {}",
            secret.what
        );
    }
    for logged in [
        "login refused: unknown email or wrong password",
        "refresh token reuse detected",
        "session ended by logout",
        " TRACE ",
    ] {
        assert!(
            output.contains(logged),
            "nothing logged {logged:?}: {output}"
        );
    }
}

async fn no_secret_reaches_a_trace_log_or_an_error_body_in_hs256_mode(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let no_keys = TempDir::new().unwrap();
    let issuer = start(
        &database,
        no_keys.path(),
        &[("JWT_ALGORITHM", "HS256"), ("JWT_SECRET", JWT_SECRET)],
    );

    let mut secrets = drive_every_flow(&issuer).await;

    secrets.push(secret("JWT_SECRET", JWT_SECRET));
    assert_output_holds_no_secret(issuer, &secrets);
}

async fn no_secret_reaches_a_trace_log_or_an_error_body_in_rs256_mode(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let keys = KeysDir::new();
    let issuer = start(&database, keys.dir(), &[]);

    let mut secrets = drive_every_flow(&issuer).await;

    let pem = std::fs::read_to_string(keys.dir().join(format!("{}.pem", keys.first))).unwrap();
    let body_lines = pem.lines().filter(|line| !line.starts_with("-----"));
    for (number, line) in body_lines.enumerate() {
        secrets.push(secret(format!("line {number} of the private key"), line));
    }
    assert!(secrets.len() > 20, "the key's body lines are searched for");
    assert_output_holds_no_secret(issuer, &secrets);
}

backend_tests!(
    no_secret_reaches_a_trace_log_or_an_error_body_in_hs256_mode,
    no_secret_reaches_a_trace_log_or_an_error_body_in_rs256_mode,
);
