//! Headers every answer carries: `X-Content-Type-Options: nosniff` on all of them;
//! `Cache-Control: no-store` and `Pragma: no-cache` on tokens (RFC 6749 5.1), errors and
//! everything else that does not choose its own caching; the published keys and discovery stay
//! cacheable.

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, backend_tests, refresh_token, spawn_app};

/// Asserts `nosniff`, `no-store` and `no-cache`, and returns the status.
fn assert_not_stored(response: &reqwest::Response) -> u16 {
    let headers = response.headers();
    let path = response.url().path();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    assert_eq!(headers["cache-control"], "no-store", "{path}");
    assert_eq!(headers["pragma"], "no-cache", "{path}");
    response.status().as_u16()
}

async fn token_responses_are_neither_stored_nor_sniffed(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let login = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(assert_not_stored(&login), 200);
    let tokens: Value = login.json().await.unwrap();
    let refreshed = app.refresh(refresh_token(&tokens)).await;

    assert_eq!(assert_not_stored(&refreshed), 200);
}

async fn errors_and_other_answers_are_neither_stored_nor_sniffed(backend: Backend) {
    let app = spawn_app(&backend).await;

    let registered = app.register_as("alice@example.com", PASSWORD).await;
    let bad_request = app.post_json("/login", &json!({ "email": 1 })).await;
    let wrong_password = app.login("alice@example.com", "not the password").await;
    let unknown_path = app.get("/admin").await;
    let health = app.get("/healthz").await;

    assert_eq!(assert_not_stored(&registered), 201);
    assert_eq!(assert_not_stored(&bad_request), 400);
    assert_eq!(assert_not_stored(&wrong_password), 401);
    assert_eq!(assert_not_stored(&unknown_path), 404);
    assert_eq!(assert_not_stored(&health), 200);
}

async fn published_keys_and_discovery_keep_their_caching_and_are_not_sniffed(backend: Backend) {
    let app = spawn_app(&backend).await;
    let kid = app.jwks_kids().await.swap_remove(0);
    let revoked = app.get("/revoked-sessions").await;

    for path in [
        "/.well-known/jwks.json".to_owned(),
        "/public-key".to_owned(),
        format!("/public-key/{kid}"),
        "/.well-known/openid-configuration".to_owned(),
    ] {
        let response = app.get(&path).await;
        let headers = response.headers();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(headers["cache-control"], "public, max-age=300", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.get("pragma").is_none(), "{path}");
    }
    assert_eq!(revoked.headers()["cache-control"], "no-cache");
    assert_eq!(revoked.headers()["x-content-type-options"], "nosniff");
    assert!(revoked.headers().get("pragma").is_none());
}

backend_tests!(
    token_responses_are_neither_stored_nor_sniffed,
    errors_and_other_answers_are_neither_stored_nor_sniffed,
    published_keys_and_discovery_keep_their_caching_and_are_not_sniffed,
);
