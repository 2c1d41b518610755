//! The database going away: 503 `temporarily_unavailable`, the process keeps serving, nothing is
//! half-written, and service comes back by itself.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, assert_writes_unavailable, backend_tests, spawn_app,
    spawn_app_on, spawn_app_with,
};

/// An app whose statements give up on a lock after 100 ms.
pub(crate) async fn spawn_app_with_short_lock_wait(backend: &Backend) -> TestApp {
    spawn_app_with(backend, &[], |config| {
        config.database.statement_timeout = Duration::from_millis(100)
    })
    .await
}

async fn a_locked_database_answers_503_and_the_service_recovers_when_it_is_released(
    backend: Backend,
) {
    let app = spawn_app_with_short_lock_wait(&backend).await;
    let mut lock = app.lock_writes().await;

    let refused = app.register_as("a@example.com", PASSWORD).await;
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

async fn a_login_whose_session_cannot_be_written_is_503_and_issues_no_token(backend: Backend) {
    let app = spawn_app_with_short_lock_wait(&backend).await;
    app.register("a@example.com", None).await;
    let mut lock = app.lock_writes().await;

    let refused = app.login("a@example.com", PASSWORD).await;
    assert_error(refused, 503, "temporarily_unavailable").await;

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    assert_eq!(app.login("a@example.com", PASSWORD).await.status(), 200);
}

async fn readyz_is_200_while_the_database_answers(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({ "status": "ready" })
    );
}

async fn with_the_database_gone_readyz_and_storage_endpoints_are_503_and_the_rest_still_answers(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    app.register("a@example.com", None).await;

    app.store.close().await;

    assert_error(app.get("/readyz").await, 503, "temporarily_unavailable").await;
    assert_writes_unavailable(&app).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 200);
    assert_eq!(app.get("/public-key").await.status(), 200);
}

/// A rolling update: a newer release has migrated the database further (here: a migration
/// this build does not have); a replica of this release that starts now must still start.
async fn a_database_migrated_by_a_newer_release_still_starts_this_one(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("a@example.com", None).await;
    let mut connection = app.second_connection().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from a newer release', TRUE, $1, 0)",
    )
    .bind(vec![0_u8; 48])
    .execute(&mut connection)
    .await
    .expect("record a migration from the future");

    let restarted = spawn_app_on(app.database.shared(), &[], |_| {}).await;

    assert_eq!(restarted.get("/readyz").await.status(), 200);
    assert_eq!(
        restarted.login("a@example.com", PASSWORD).await.status(),
        200
    );
}

backend_tests!(
    a_database_migrated_by_a_newer_release_still_starts_this_one,
    a_locked_database_answers_503_and_the_service_recovers_when_it_is_released,
    a_login_whose_session_cannot_be_written_is_503_and_issues_no_token,
    readyz_is_200_while_the_database_answers,
    with_the_database_gone_readyz_and_storage_endpoints_are_503_and_the_rest_still_answers,
);
