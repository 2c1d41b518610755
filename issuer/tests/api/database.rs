//! The database going away: 503 `temporarily_unavailable`, the process keeps serving, nothing is
//! half-written, and service comes back by itself.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with};

async fn spawn_app_with_short_busy_timeout() -> TestApp {
    spawn_app_with(&[], |config| {
        config.database.busy_timeout = Duration::from_millis(100)
    })
    .await
}

#[tokio::test]
async fn a_locked_database_answers_503_and_the_service_recovers_when_it_is_released() {
    let app = spawn_app_with_short_busy_timeout().await;
    let mut lock = app.lock_writes().await;

    let refused = app
        .post_json(
            "/register",
            &json!({ "email": "a@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let description = assert_error(refused, 503, "temporarily_unavailable").await;
    assert!(
        !description.to_lowercase().contains("lock"),
        "no database text leaks: {description}"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process stays up"
    );
    assert_eq!(
        app.get("/.well-known/jwks.json").await.status(),
        200,
        "keys are still served"
    );

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let created = app.register("a@example.com", None).await;
    assert_eq!(
        created["email"], "a@example.com",
        "the refused write left nothing behind"
    );
}

#[tokio::test]
async fn a_login_whose_session_cannot_be_written_is_503_and_issues_no_token() {
    let app = spawn_app_with_short_busy_timeout().await;
    app.register("a@example.com", None).await;
    let mut lock = app.lock_writes().await;

    let refused = app.login("a@example.com", PASSWORD).await;
    assert_error(refused, 503, "temporarily_unavailable").await;

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    assert_eq!(app.login("a@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn readyz_is_200_while_the_database_answers() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({ "status": "ready" })
    );
}

#[tokio::test]
async fn with_the_database_gone_readyz_and_storage_endpoints_are_503_and_the_rest_still_answers() {
    let app = spawn_app().await;
    app.register("a@example.com", None).await;

    app.store.close().await;

    assert_error(app.get("/readyz").await, 503, "temporarily_unavailable").await;
    assert_error(
        app.login("a@example.com", PASSWORD).await,
        503,
        "temporarily_unavailable",
    )
    .await;
    assert_error(
        app.post_json(
            "/register",
            &json!({ "email": "b@example.com", "password": PASSWORD }),
        )
        .await,
        503,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 200);
    assert_eq!(app.get("/public-key").await.status(), 200);
}
