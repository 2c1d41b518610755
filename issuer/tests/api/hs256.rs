//! HS256 shared-secret mode: tokens signed with the secret, which is never published.

use aws_lc_rs::hmac;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, assert_error, b64, backend_tests, spawn_app_with};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

async fn hs256_tokens_verify_with_the_secret_and_nothing_is_published(backend: Backend) {
    let app = spawn_app_with(
        &backend,
        &["--jwt-algorithm", "HS256", "--jwt-secret", SECRET],
        |_| {},
    )
    .await;
    app.register("alice@example.com", None).await;

    let body: Value = app
        .login("alice@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let header: Value = serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();

    assert!(hmac::verify(&key, signing_input.as_bytes(), &b64(signature)).is_ok());
    assert_eq!(
        header,
        serde_json::json!({ "alg": "HS256", "typ": "at+jwt" })
    );
    assert_eq!(app.jwks().await, serde_json::json!({ "keys": [] }));
    let description = assert_error(app.get("/public-key").await, 404, "not_found").await;
    assert!(description.contains("HS256"), "{description}");
}

backend_tests!(hs256_tokens_verify_with_the_secret_and_nothing_is_published,);
