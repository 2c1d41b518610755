//! HS256 shared-secret mode: tokens signed with the secret, which is never published.

use aws_lc_rs::hmac;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{
    Backend, TestApp, assert_error, b64, backend_tests, header_of, shared_keys_dir, spawn_app_with,
};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

/// An HS256 issuer with `keys_dir` as KEYS_DIR.
pub(crate) async fn hs256_app(backend: &Backend, keys_dir: &str) -> TestApp {
    let flags = [
        "--jwt-algorithm",
        "HS256",
        "--jwt-secret",
        SECRET,
        "--keys-dir",
        keys_dir,
    ];
    spawn_app_with(backend, &flags, |_| {}).await
}

async fn hs256_tokens_verify_with_the_secret_and_nothing_is_published(backend: Backend) {
    let empty = TempDir::new().unwrap();
    let app = hs256_app(&backend, &empty.path().display().to_string()).await;
    app.register("alice@example.com", None).await;

    let token = app.access_token("alice@example.com").await;
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let header = header_of(&token);

    assert!(hmac::verify(&key, signing_input.as_bytes(), &b64(signature)).is_ok());
    assert_eq!(header, json!({ "alg": "HS256", "typ": "at+jwt" }));
    assert_eq!(app.jwks().await, json!({ "keys": [] }));
    let description = assert_error(app.get("/public-key").await, 404, "not_found").await;
    assert!(description.contains("HS256"), "{description}");
}

async fn hs256_mode_publishes_the_rsa_keys_of_keys_dir_ahead_of_a_switch_but_never_signs_with_them(
    backend: Backend,
) {
    let app = hs256_app(&backend, &shared_keys_dir().display().to_string()).await;
    let tokens = app.signed_in("alice@example.com").await;
    let header = header_of(tokens["access_token"].as_str().unwrap());

    assert_eq!(header["alg"], "HS256");
    assert_eq!(header.get("kid"), None);
    let jwks = app.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(!jwks.to_string().contains(SECRET));
    let kid = keys[0]["kid"].as_str().unwrap();
    assert_error(app.get("/public-key").await, 404, "not_found").await;
    let pem = app.get(&format!("/public-key/{kid}")).await;
    assert_eq!(pem.status(), 200);
    assert!(
        pem.text()
            .await
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
}

backend_tests!(
    hs256_tokens_verify_with_the_secret_and_nothing_is_published,
    hs256_mode_publishes_the_rsa_keys_of_keys_dir_ahead_of_a_switch_but_never_signs_with_them,
);
