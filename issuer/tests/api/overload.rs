//! Admission control: a login or registration the password-hashing queue cannot take is
//! answered 503 `temporarily_unavailable` with `Retry-After` at once, before the database is
//! read or the attempt counted. (The `issuer_shed_total` counter is checked on a process of
//! its own, in the example services' observability tests: here every test shares one
//! recorder.)

use crate::helpers::{Backend, PASSWORD, assert_error, backend_tests, spawn_app_with};

/// Asserts the 503 of a full hashing queue.
async fn assert_shed(response: reqwest::Response) {
    assert_eq!(response.headers()["retry-after"], "1");
    let description = assert_error(response, 503, "temporarily_unavailable").await;
    assert_eq!(description, "the service is busy; retry shortly");
}

async fn work_the_hashing_queue_cannot_take_is_503_at_once_and_costs_nothing(backend: Backend) {
    // One hash at a time, nobody waits, and a second of waiting at most.
    let app = spawn_app_with(
        &backend,
        &[
            "--password-hash-concurrency",
            "1",
            "--password-hash-max-queue",
            "0",
            "--password-hash-max-wait",
            "1s",
        ],
        |_| {},
    )
    .await;
    app.register("alice@example.com", None).await;
    let hashes = app.hashing().completed;

    // The only place in the queue is taken, as by a login in progress.
    let in_progress = app.passwords.admit().expect("an empty queue admits");
    // More wrong passwords than the account's free attempts (5): none is counted.
    for _ in 0..6 {
        assert_shed(app.login("alice@example.com", "not the password").await).await;
    }
    assert_shed(app.register_as("bob@example.com", PASSWORD).await).await;
    assert_eq!(app.hashing().completed, hashes, "nothing was hashed");

    drop(in_progress);
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        200,
        "the shed attempts left the back-off untouched"
    );
    assert_eq!(
        app.register_as("bob@example.com", PASSWORD).await.status(),
        201
    );
}

backend_tests!(work_the_hashing_queue_cannot_take_is_503_at_once_and_costs_nothing);
