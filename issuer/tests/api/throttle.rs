//! Repeated failed logins: 429 `rate_limited` with `Retry-After`, easing off with time.

use std::time::Duration;

use crate::helpers::{Backend, PASSWORD, assert_error, backend_tests, spawn_app};

async fn five_failures_on_an_account_make_the_next_attempt_429_with_retry_after(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("alice@example.com", "not the password")
                .await
                .status(),
            401
        );
    }

    let response = app.login("alice@example.com", PASSWORD).await;

    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, 429, "rate_limited").await;
}

async fn a_throttled_login_does_no_password_work(backend: Backend) {
    let app = spawn_app(&backend).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }
    let before = app.hashing().completed;

    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 429);

    assert_eq!(app.hashing().completed, before);
}

async fn the_block_lifts_once_retry_after_has_passed_and_success_resets_it(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }

    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(
        app.login("alice@example.com", "not the password")
            .await
            .status(),
        401,
        "count was reset"
    );
}

async fn the_delay_doubles_with_each_further_failure(backend: Backend) {
    let app = spawn_app(&backend).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        app.login("alice@example.com", "not the password")
            .await
            .status(),
        401
    );

    let response = app.login("alice@example.com", "not the password").await;

    assert_eq!(response.headers()["retry-after"], "2");
}

async fn another_account_is_not_throttled(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("bob@example.com", None).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }

    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 200);
}

async fn one_address_guessing_many_accounts_is_throttled_too(backend: Backend) {
    let app = spawn_app(&backend).await;
    for i in 0..20 {
        let response = app
            .login(&format!("user{i}@example.com"), "not the password")
            .await;
        assert_eq!(response.status(), 401);
    }

    let response = app.login("user99@example.com", "not the password").await;

    assert_error(response, 429, "rate_limited").await;
}

backend_tests!(
    five_failures_on_an_account_make_the_next_attempt_429_with_retry_after,
    a_throttled_login_does_no_password_work,
    the_block_lifts_once_retry_after_has_passed_and_success_resets_it,
    the_delay_doubles_with_each_further_failure,
    another_account_is_not_throttled,
    one_address_guessing_many_accounts_is_throttled_too,
);
