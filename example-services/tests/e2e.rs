//! The walkthrough of the README, end to end: the real `issuer`, `user-service` and
//! `raider-service` binaries on free ports, talking HTTP (started by the workspace's
//! `test_support::stack`).

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use test_support::free_port;
use test_support::process::Process;
use test_support::stack::{
    Issuer, PASSWORD, account, call, post, service, service_on, service_with,
};
use test_support::wait::PATIENCE;

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
    let (issuer, users) = issuer_and_polling_user_service();
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
    assert_refused_once_polled(&client, &book, &refreshed["access_token"]).await;
    let first = call(&client, book, login["access_token"].as_str()).await;
    assert_eq!(first.status(), 401, "every access token of the session");
}

/// A real issuer, and a real `user-service` polling its revocation list every second.
fn issuer_and_polling_user_service() -> (Issuer, Process) {
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
    (issuer, users)
}

/// Waits (bounded: real processes, real time) until the service at `url` refuses `token` as
/// the token of an ended session, which it learns from its revocation poll.
async fn assert_refused_once_polled(client: &reqwest::Client, url: &str, token: &Value) {
    let deadline = std::time::Instant::now() + PATIENCE;
    let refused = loop {
        let response = call(client, url.to_owned(), token.as_str()).await;
        if response.status() == 401 {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session's end never reached the service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        refused.text().await.unwrap(),
        r#"{"error":"invalid_token","error_description":"the token's session has ended"}"#
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_at_the_service_and_keeps_the_callers() {
    let (issuer, users) = issuer_and_polling_user_service();
    let client = reqwest::Client::new();
    account(&client, issuer.url(), "alice@example.com", "user").await;
    let credentials = json!({ "email": "alice@example.com", "password": PASSWORD });
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let login = post(&client, format!("{}/login", issuer.url()), &credentials).await;
        assert_eq!(login.status(), 200);
        sessions.push(login.json::<Value>().await.unwrap());
    }
    let [caller, other] = &sessions[..] else {
        unreachable!()
    };
    let book = format!("{}/book", users.base_url);
    for tokens in [caller, other] {
        let booked = call(&client, book.clone(), tokens["access_token"].as_str()).await;
        assert_eq!(booked.status(), 200);
    }

    let changed = client
        .post(format!("{}/me/password", issuer.url()))
        .bearer_auth(caller["access_token"].as_str().unwrap())
        .json(&json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);

    let refresh = async |tokens: &Value| {
        let body = json!({ "refresh_token": tokens["refresh_token"] });
        post(&client, format!("{}/refresh", issuer.url()), &body).await
    };
    assert_eq!(refresh(other).await.status(), 401);
    assert_refused_once_polled(&client, &book, &other["access_token"]).await;
    let booked = call(&client, book, caller["access_token"].as_str()).await;
    assert_eq!(booked.status(), 200, "the caller's session goes on");
    assert_eq!(refresh(caller).await.status(), 200);
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
/// Algorithm confusion in this mode is the attack suite's job (tests/attacks/algorithms.rs).
async fn the_migration_mode_accepts_tokens_from_both_issuers() {
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
}

/// A port nothing listens on yet: bound, read and released.
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

#[test]
fn a_bad_log_format_or_server_limit_stops_start_up_with_one_line_naming_it() {
    for (var, value) in [
        ("LOG_FORMAT", "xml"),
        ("REQUEST_TIMEOUT", "soon"),
        ("HEADER_READ_TIMEOUT", "0s"),
        ("MAX_CONNECTIONS", "0"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_user-service"))
            .env_clear()
            .env(var, value)
            .output()
            .unwrap();

        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{var}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("user-service: error: "), "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[test]
fn a_bad_sentry_dsn_stops_start_up_without_echoing_its_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .env_clear()
        .env("SENTRY_DSN", "not-a-dsn-secretkey123")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "user-service: error: SENTRY_DSN: not a valid Sentry DSN (expected https://KEY@HOST/PROJECT)\n"
    );
}
