//! Phone login with the local provider: codes read from its outbox (the test hook), accounts,
//! sessions, attempts, expiry and limits enforced on the app's manual clock. The Twilio
//! provider is tested in `twilio.rs`; a phone login from start to a booking on the real
//! `user-service` in the example services' `tests/phone_login.rs`.

use std::time::{Duration, SystemTime};

use issuer::accounts::phone_account;
use issuer::domain::{Phone, Role};

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_error, backend_tests, claims_of, refresh_token, sid, spawn_app,
    spawn_app_on, spawn_app_with, tokens,
};

backend_tests!(
    the_next_login_of_a_number_reaches_the_same_account,
    a_closed_registration_lets_known_numbers_in_and_creates_no_account,
    start_answers_the_same_for_known_and_unknown_numbers,
    phone_sessions_refresh_and_end_like_password_sessions,
    a_code_works_once,
    a_wrong_code_is_refused_and_the_right_one_still_works,
    a_code_is_dead_after_its_attempts,
    a_code_expires,
    a_new_code_replaces_the_old_one,
    codes_are_stored_only_as_keyed_hashes,
    sends_per_phone_are_capped_for_an_hour,
    sends_per_client_are_capped,
    checks_per_phone_are_capped_and_a_right_code_resets_them,
    limits_are_shared_by_apps_on_one_database,
);

pub(crate) const PHONE: &str = "+447700900123";

pub(crate) async fn spawn_otp_app(backend: &Backend, flags: &[&str]) -> TestApp {
    let mut all = vec!["--otp-provider", "local"];
    all.extend_from_slice(flags);
    spawn_app_with(backend, &all, |_| {}).await
}

impl TestApp {
    /// `POST /otp/start`.
    pub(crate) async fn otp_start(&self, phone: &str) -> reqwest::Response {
        self.post_json("/otp/start", &json!({ "phone": phone }))
            .await
    }

    /// `POST /otp/verify`.
    pub(crate) async fn otp_verify(&self, phone: &str, code: &str) -> reqwest::Response {
        self.post_json("/otp/verify", &json!({ "phone": phone, "code": code }))
            .await
    }

    /// Starts a login of `phone` (asserting 202) and returns the code it was sent.
    pub(crate) async fn code_for(&self, phone: &str) -> String {
        let response = self.otp_start(phone).await;
        assert_eq!(response.status(), 202, "start {phone}");
        self.otp_outbox
            .as_ref()
            .expect("the local provider")
            .last_code(phone)
            .expect("a code was sent")
    }

    /// Asserts that `code` does not log [`PHONE`] in: 401 `invalid_credentials`.
    async fn assert_code_refused(&self, code: &str) -> String {
        assert_error(
            self.otp_verify(PHONE, code).await,
            401,
            "invalid_credentials",
        )
        .await
    }

    /// Logs `phone` in with a fresh code; the token response.
    pub(crate) async fn phone_signed_in(&self, phone: &str) -> Value {
        let code = self.code_for(phone).await;
        tokens(self.otp_verify(phone, &code).await).await
    }
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &code[1..])
}

async fn the_next_login_of_a_number_reaches_the_same_account(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;

    let first = app.phone_signed_in(PHONE).await;
    let second = app.phone_signed_in("+44-7700-900123").await;

    let sub = |body: &Value| claims_of(body["access_token"].as_str().unwrap())["sub"].clone();
    assert_eq!(sub(&first), sub(&second));
    assert_ne!(sid(&first), sid(&second), "a session per login");
}

async fn a_closed_registration_lets_known_numbers_in_and_creates_no_account(backend: Backend) {
    let app = spawn_otp_app(&backend, &["--registration-open", "false"]).await;
    let known = Phone::parse(PHONE).unwrap();
    let role = Role::parse("user").unwrap();
    phone_account(&app.store, &known, &role, SystemTime::now())
        .await
        .unwrap();
    let new = "+15550100199";

    let code = app.code_for(PHONE).await;
    let known_login = app.otp_verify(PHONE, &code).await;
    let code = app.code_for(new).await;
    let refused = app.otp_verify(new, &code).await;

    assert_eq!(known_login.status(), 200);
    assert_error(refused, 403, "registration_closed").await;
    let unknown = Phone::parse(new).unwrap();
    let stored = app.store.find_user_by_phone(&unknown, 0).await.unwrap();
    assert!(stored.is_none(), "no account for a new number");
}

async fn start_answers_the_same_for_known_and_unknown_numbers(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    app.phone_signed_in(PHONE).await;

    let known = app.otp_start(PHONE).await;
    let unknown = app.otp_start("+15550100199").await;

    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap());
}

async fn phone_sessions_refresh_and_end_like_password_sessions(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let login = app.phone_signed_in(PHONE).await;

    let refreshed = tokens(app.refresh(refresh_token(&login)).await).await;
    let claims = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["phone_number"], PHONE);
    assert_eq!(claims["sid"], sid(&login));
    assert_eq!(app.logout(refresh_token(&refreshed)).await.status(), 204);

    assert_error(
        app.refresh(refresh_token(&refreshed)).await,
        401,
        "invalid_grant",
    )
    .await;
    assert!(app.revoked_sids().await.contains(&sid(&login)));
}

async fn a_code_works_once(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let code = app.code_for(PHONE).await;
    tokens(app.otp_verify(PHONE, &code).await).await;

    let description = app.assert_code_refused(&code).await;
    assert_eq!(
        description,
        "the code is wrong, expired or used up; request a new one"
    );
}

async fn a_wrong_code_is_refused_and_the_right_one_still_works(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let code = app.code_for(PHONE).await;

    app.assert_code_refused(&wrong(&code)).await;
    tokens(app.otp_verify(PHONE, &code).await).await;
}

async fn a_code_is_dead_after_its_attempts(backend: Backend) {
    let app = spawn_otp_app(&backend, &["--otp-max-attempts", "3"]).await;
    let code = app.code_for(PHONE).await;
    for _ in 0..3 {
        app.assert_code_refused(&wrong(&code)).await;
    }

    app.assert_code_refused(&code).await;
}

async fn a_code_expires(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let code = app.code_for(PHONE).await;

    app.clock.advance(Duration::from_secs(5 * 60));

    app.assert_code_refused(&code).await;
}

async fn a_new_code_replaces_the_old_one(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let old = app.code_for(PHONE).await;
    let mut new = app.code_for(PHONE).await;
    while new == old {
        new = app.code_for(PHONE).await; // one chance in a million
    }

    app.assert_code_refused(&old).await;
    tokens(app.otp_verify(PHONE, &new).await).await;
}

async fn codes_are_stored_only_as_keyed_hashes(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let code = app.code_for(PHONE).await;

    let mut connection = app.second_connection().await;
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT phone, code_hash FROM otp_codes")
        .fetch_all(&mut connection)
        .await
        .unwrap();

    assert_eq!(rows.len(), 1);
    let (phone, stored) = &rows[0];
    assert_eq!(phone, PHONE);
    assert!(!stored.contains(&code), "{stored}");
    assert_eq!(
        stored.len(),
        43,
        "an unpadded base64url HMAC-SHA256: {stored}"
    );
}

async fn sends_per_phone_are_capped_for_an_hour(backend: Backend) {
    let app = spawn_otp_app(&backend, &["--otp-sends-per-phone", "2"]).await;
    app.code_for(PHONE).await;
    app.clock.advance(Duration::from_secs(600));
    app.code_for(PHONE).await;

    let refused = app.otp_start(PHONE).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_error(refused, 429, "rate_limited").await;
    assert_eq!(retry_after, 3000, "the window opened with the first send");
    assert_eq!(app.otp_start("+15550100199").await.status(), 202);

    app.clock.advance(Duration::from_secs(3000));
    assert_eq!(app.otp_start(PHONE).await.status(), 202);
}

async fn sends_per_client_are_capped(backend: Backend) {
    let app = spawn_otp_app(&backend, &["--otp-sends-per-client", "2"]).await;
    app.code_for("+15550100101").await;
    app.code_for("+15550100102").await;

    assert_error(app.otp_start("+15550100103").await, 429, "rate_limited").await;
}

async fn checks_per_phone_are_capped_and_a_right_code_resets_them(backend: Backend) {
    let app = spawn_otp_app(
        &backend,
        &["--otp-checks-per-phone", "3", "--otp-max-attempts", "10"],
    )
    .await;
    let code = app.code_for(PHONE).await;
    app.otp_verify(PHONE, &wrong(&code)).await;
    app.otp_verify(PHONE, &wrong(&code)).await;
    tokens(app.otp_verify(PHONE, &code).await).await;

    let code = app.code_for(PHONE).await;
    for _ in 0..3 {
        app.assert_code_refused(&wrong(&code)).await;
    }
    let refused = app.otp_verify(PHONE, &code).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "rate_limited").await;
}

async fn limits_are_shared_by_apps_on_one_database(backend: Backend) {
    let flags = ["--otp-provider", "local", "--otp-sends-per-phone", "2"];
    let first = spawn_app_with(&backend, &flags, |_| {}).await;
    let second = spawn_app_on(first.database.shared(), &flags, |_| {}).await;

    assert_eq!(first.otp_start(PHONE).await.status(), 202);
    assert_eq!(second.otp_start(PHONE).await.status(), 202);

    assert_error(first.otp_start(PHONE).await, 429, "rate_limited").await;
    assert_error(second.otp_start(PHONE).await, 429, "rate_limited").await;
}

#[tokio::test]
async fn phone_login_is_not_found_unless_enabled() {
    let app = spawn_app(&Backend::Sqlite).await;

    assert_error(app.otp_start(PHONE).await, 404, "not_found").await;
    assert_error(app.otp_verify(PHONE, "123456").await, 404, "not_found").await;
}

#[tokio::test]
async fn malformed_phones_and_codes_are_422_and_malformed_bodies_400() {
    let app = spawn_otp_app(&Backend::Sqlite, &[]).await;

    let description =
        assert_error(app.otp_start("07700 900123").await, 422, "invalid_request").await;
    assert!(
        description.contains("international format"),
        "{description}"
    );
    let description = assert_error(
        app.otp_verify(PHONE, "12ab56").await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(description, "code must be 4 to 10 digits");
    assert_error(
        app.post_json("/otp/verify", &json!({ "phone": PHONE }))
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_json("/otp/start", &json!({ "phone": 447700900123_u64 }))
            .await,
        400,
        "invalid_request",
    )
    .await;
}
