//! Hourly caps per client address that are not the login back-off: registrations, and OTP
//! code checks across numbers. Each is counted before the work it stands for (an argon2 hash,
//! a code check) and answers 429 `rate_limited` with the time left in the hour.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, backend_tests, spawn_app_with, tokens,
};
use crate::otp::spawn_otp_app;

impl TestApp {
    /// `POST /register` of `email` with [`PASSWORD`].
    async fn try_register(&self, email: &str) -> reqwest::Response {
        self.register_as(email, PASSWORD).await
    }
}

/// Asserts the 429 of an hourly cap: `Retry-After` and the documented body.
async fn assert_capped(response: reqwest::Response, retry_after: &str) {
    assert_eq!(response.headers()["retry-after"], retry_after);
    let description = assert_error(response, 429, "rate_limited").await;
    assert_eq!(description, "too many attempts; retry later");
}

async fn registrations_from_one_address_are_capped_per_hour_without_a_hash(backend: Backend) {
    let app = spawn_app_with(&backend, &["--registrations-per-client", "3"], |_| {}).await;
    for i in 0..3 {
        assert_eq!(
            app.try_register(&format!("user{i}@example.com"))
                .await
                .status(),
            201
        );
    }
    let hashes_before = app.hashing().completed;
    app.clock.advance(Duration::from_secs(600));

    assert_capped(app.try_register("user3@example.com").await, "3000").await;
    assert_eq!(
        app.hashing().completed,
        hashes_before,
        "no hash for a refused registration"
    );
    let user = issuer::domain::Email::parse("user3@example.com").unwrap();
    assert!(app.store.find_user_by_email(&user).await.unwrap().is_none());

    app.clock.advance(Duration::from_secs(3000));
    assert_eq!(
        app.try_register("user3@example.com").await.status(),
        201,
        "a new hour"
    );
}

async fn invalid_registrations_do_not_spend_the_cap(backend: Backend) {
    let app = spawn_app_with(&backend, &["--registrations-per-client", "1"], |_| {}).await;
    for _ in 0..3 {
        let weak = json!({ "email": "a@example.com", "password": "short" });
        assert_eq!(app.post_json("/register", &weak).await.status(), 422);
    }

    assert_eq!(app.try_register("a@example.com").await.status(), 201);
}

impl TestApp {
    /// Starts a login of `phone` (asserting 202) and returns the code the local provider sent.
    async fn sent_code(&self, phone: &str) -> String {
        assert_eq!(self.otp_start(phone).await.status(), 202);
        let outbox = self.otp_outbox.as_ref().expect("the local provider");
        outbox.last_code(phone).expect("a code was sent")
    }
}

async fn code_checks_from_one_address_are_capped_across_numbers(backend: Backend) {
    let app = spawn_otp_app(&backend, &["--otp-checks-per-client", "3"]).await;
    for i in 0..3 {
        let refused = app.otp_verify(&format!("+1555010020{i}"), "123456").await;
        assert_error(refused, 401, "invalid_credentials").await;
    }
    let phone = "+15550100209";
    let code = app.sent_code(phone).await;

    assert_capped(app.otp_verify(phone, &code).await, "3600").await;

    app.clock.advance(Duration::from_secs(3600));
    let code = app.sent_code(phone).await;
    tokens(app.otp_verify(phone, &code).await).await;
}

backend_tests!(
    registrations_from_one_address_are_capped_per_hour_without_a_hash,
    invalid_registrations_do_not_spend_the_cap,
    code_checks_from_one_address_are_capped_across_numbers,
);
