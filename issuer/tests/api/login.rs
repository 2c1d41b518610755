//! `POST /login`: tokens that verify against the served keys.

use issuer::clock::{Clock, unix_seconds};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, ISSUER, PASSWORD, assert_error, backend_tests, spawn_app, spawn_app_with, verify_rs256,
};

async fn a_login_returns_an_rfc6749_token_response_that_is_not_cached(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let response = app.login("alice@example.com", PASSWORD).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(
        refresh.len() >= 43,
        "at least 256 bits, base64url: {refresh}"
    );
}

async fn the_access_token_verifies_against_the_served_jwks_with_every_claim(backend: Backend) {
    let app = spawn_app(&backend).await;
    let user = app.register("Alice@Example.com", Some("raider")).await;
    let now = unix_seconds(app.clock.now());

    let token = app.access_token("alice@example.com").await;
    let jwks = app.jwks().await;
    let jwk = &jwks["keys"][0];
    let (header, claims) = verify_rs256(&token, jwk).unwrap();

    assert_eq!(
        header,
        json!({ "alg": "RS256", "typ": "at+jwt", "kid": jwk["kid"] })
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["nbf"], now);
    assert_eq!(claims["exp"], now + 900);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["role"], "raider");
    assert_eq!(claims["type"], "access");
    for id in ["jti", "sid"] {
        let value = claims[id].as_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(value).is_ok(),
            "{id} is a UUID: {value}"
        );
    }
    assert_eq!(
        claims.as_object().unwrap().len(),
        11,
        "no unexpected claims: {claims}"
    );
}

async fn each_login_gets_a_new_session_and_token_id(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    let jwks = app.jwks().await;

    let mut seen = Vec::new();
    for _ in 0..2 {
        let body = app.logged_in("alice@example.com").await;
        let (_, claims) =
            verify_rs256(body["access_token"].as_str().unwrap(), &jwks["keys"][0]).unwrap();
        seen.push((
            claims["sid"].clone(),
            claims["jti"].clone(),
            body["refresh_token"].clone(),
        ));
    }

    assert_ne!(seen[0].0, seen[1].0, "sid");
    assert_ne!(seen[0].1, seen[1].1, "jti");
    assert_ne!(seen[0].2, seen[1].2, "refresh token");
}

async fn a_tampered_token_fails_independent_verification(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    let token = app.access_token("alice@example.com").await;
    let jwks = app.jwks().await;

    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = crate::helpers::b64(parts[1]);
    let forged_claims = String::from_utf8(forged_claims)
        .unwrap()
        .replace("\"user\"", "\"admin\"");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged_claims
        ),
        parts[2]
    );

    assert!(verify_rs256(&token, &jwks["keys"][0]).is_ok());
    assert!(verify_rs256(&forged, &jwks["keys"][0]).is_err());
}

async fn a_wrong_password_and_an_unknown_email_get_identical_answers_after_the_same_work(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let before = app.hashing().completed;
    let wrong_password = app.login("alice@example.com", "not the password").await;
    let after_wrong = app.hashing().completed;
    let unknown_email = app.login("nobody@example.com", "not the password").await;
    let after_unknown = app.hashing().completed;

    assert_eq!(
        after_wrong - before,
        1,
        "a wrong password runs one argon2 verification"
    );
    assert_eq!(
        after_unknown - after_wrong,
        1,
        "an unknown email runs one too (dummy hash)"
    );
    let a = (
        wrong_password.status(),
        wrong_password.bytes().await.unwrap(),
    );
    let b = (unknown_email.status(), unknown_email.bytes().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.0, 401);
}

async fn a_wrong_password_is_401_invalid_credentials(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let response = app.login("alice@example.com", "not the password").await;

    let description = assert_error(response, 401, "invalid_credentials").await;
    assert_eq!(description, "invalid email or password");
}

async fn an_email_that_cannot_be_an_address_is_401_not_422_on_login(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.login("not-an-address", "whatever password").await;

    assert_error(response, 401, "invalid_credentials").await;
}

async fn argon2_runs_off_the_runtime_so_the_jwks_answers_during_a_login_storm(backend: Backend) {
    // One runtime thread serves both this test and the app. Were argon2 to run on it, this
    // task could never observe a hash in progress: the thread would be busy hashing.
    // Logins in flight count against the back-off until they succeed (see throttle.rs): room
    // for all of them, as this test is about where argon2 runs.
    let roomy = [
        "--login-account-free-attempts",
        "100",
        "--login-client-free-attempts",
        "100",
    ];
    let app = spawn_app_with(&backend, &roomy, |_| {}).await;
    app.register("alice@example.com", None).await;
    let logins: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/login", app.address);
            tokio::spawn(async move {
                let body = json!({ "email": "alice@example.com", "password": PASSWORD });
                client.post(url).json(&body).send().await.unwrap().status()
            })
        })
        .collect();

    let mut answered_during_hashing = 0;
    while logins.iter().any(|login| !login.is_finished()) {
        if app.hashing().running > 0 {
            let response = app.get("/.well-known/jwks.json").await;
            assert_eq!(response.status(), 200);
            answered_during_hashing += 1;
        }
        tokio::task::yield_now().await;
    }

    assert!(
        answered_during_hashing > 0,
        "the JWKS answered while argon2 was running"
    );
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
}

backend_tests!(
    a_login_returns_an_rfc6749_token_response_that_is_not_cached,
    the_access_token_verifies_against_the_served_jwks_with_every_claim,
    each_login_gets_a_new_session_and_token_id,
    a_tampered_token_fails_independent_verification,
    a_wrong_password_and_an_unknown_email_get_identical_answers_after_the_same_work,
    a_wrong_password_is_401_invalid_credentials,
    an_email_that_cannot_be_an_address_is_401_not_422_on_login,
    argon2_runs_off_the_runtime_so_the_jwks_answers_during_a_login_storm,
);
