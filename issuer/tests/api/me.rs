//! Self-service behind the issuer's own verifier layer: `GET /me`, `GET /me/sessions`,
//! `DELETE /me/sessions/{sid}`, `POST /logout-all` and `POST /me/password`, with the tokens the
//! issuer itself signed, on both backends. Ended sessions are refused here at once (the
//! issuer looks the session up); the services learn of them from `/revoked-sessions`.

use std::time::Duration;

use issuer::clock::Clock;

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, backend_tests, claims_of, kid_of, refresh_token,
    shared_keys_dir, sid, spawn_app, spawn_app_with,
};
use crate::hs256::hs256_app;
use crate::keys::{KeysDir, LEAD, wait_for_jwks};

const SESSION_ENDED: &str = "the token's session has ended";

impl TestApp {
    /// `method path` with `token` as the bearer and an optional JSON body.
    pub(crate) async fn with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("user-agent", "me-tests");
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// `GET /me` with `token`, asserting 200.
    pub(crate) async fn me(&self, token: &str) -> Value {
        let response = self.with_token(Method::GET, "/me", token, None).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json body")
    }

    /// `GET /me/sessions` with `token`, asserting 200: the sessions listed.
    async fn my_sessions(&self, token: &str) -> Vec<Value> {
        let response = self
            .with_token(Method::GET, "/me/sessions", token, None)
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json body");
        body["sessions"].as_array().expect("an array").clone()
    }

    /// `POST /me/password` with `token`.
    async fn change_password(&self, token: &str, current: &str, new: &str) -> Response {
        let body = json!({ "current_password": current, "new_password": new });
        self.with_token(Method::POST, "/me/password", token, Some(&body))
            .await
    }
}

pub(crate) fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

/// Asserts the answer to a token whose session has ended: as the verifier layer answers a
/// revoked token.
pub(crate) async fn assert_session_ended(response: Response) {
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(
        assert_error(response, 401, "invalid_token").await,
        SESSION_ENDED
    );
}

async fn the_profile_shows_the_callers_own_account(backend: Backend) {
    let app = spawn_app(&backend).await;
    let registered = app.register("alice@example.com", None).await;
    app.register("bob@example.com", None).await;
    let tokens = app.logged_in("alice@example.com").await;

    let profile = app.me(access(&tokens)).await;

    let created_at = app
        .clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        profile,
        json!({
            "sub": registered["id"],
            "email": "alice@example.com",
            "email_verified": false,
            "role": "user",
            "created_at": created_at,
        })
    );
}

async fn self_service_refuses_requests_without_a_valid_token(backend: Backend) {
    let app = spawn_app(&backend).await;
    let tokens = app.signed_in("alice@example.com").await;

    let anonymous = app.get("/me").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    for path in ["/me", "/me/sessions"] {
        let garbage = app.with_token(Method::GET, path, "not.a.token", None).await;
        assert_error(garbage, 401, "invalid_token").await;
    }
    let refresh_as_access = app
        .with_token(Method::GET, "/me", refresh_token(&tokens), None)
        .await;
    assert_error(refresh_as_access, 401, "invalid_token").await;
    // Past its expiry and the verifier's leeway (60 s), by the issuer's own clock.
    app.clock.advance(Duration::from_secs(15 * 60 + 61));
    let expired = app
        .with_token(Method::GET, "/me", access(&tokens), None)
        .await;
    let description = assert_error(expired, 401, "invalid_token").await;
    assert_eq!(description, "the token has expired");
}

async fn the_session_list_shows_live_sessions_and_marks_the_callers(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("alice@example.com").await;
    app.clock.advance(Duration::from_secs(5));
    let second = app.logged_in("alice@example.com").await;
    let third = app.logged_in("alice@example.com").await;
    assert_eq!(app.logout(refresh_token(&third)).await.status(), 204);

    let sessions = app.my_sessions(access(&second)).await;

    let sids: Vec<&str> = sessions
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [sid(&second), sid(&first)],
        "newest first, ended left out"
    );
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    let claims = claims_of(access(&second));
    assert_eq!(sessions[0]["created_at"], claims["iat"]);
    assert_eq!(sessions[0]["last_used_at"], claims["iat"]);
    assert_eq!(sessions[0]["client_ip"], "127.0.0.1");
    assert!(sessions[0]["expires_at"].as_i64() > claims["exp"].as_i64());
}

async fn ending_one_session_refuses_its_tokens_and_keeps_the_others(backend: Backend) {
    let app = spawn_app(&backend).await;
    let kept = app.signed_in("alice@example.com").await;
    let ended = app.logged_in("alice@example.com").await;
    let bobs = app.signed_in("bob@example.com").await;

    let path = format!("/me/sessions/{}", sid(&ended));
    let response = app
        .with_token(Method::DELETE, &path, access(&kept), None)
        .await;

    assert_eq!(response.status(), 204);
    app.assert_refresh_refused(&[&ended]).await;
    assert_session_ended(
        app.with_token(Method::GET, "/me", access(&ended), None)
            .await,
    )
    .await;
    assert_eq!(app.revoked_sids().await, [sid(&ended)]);
    app.me(access(&kept)).await;
    // Someone else's session, an ended one, an unknown id and no id at all: the same 404.
    for other in [
        sid(&bobs),
        sid(&ended),
        uuid::Uuid::now_v7().to_string(),
        "x".into(),
    ] {
        let path = format!("/me/sessions/{other}");
        let response = app
            .with_token(Method::DELETE, &path, access(&kept), None)
            .await;
        assert_error(response, 404, "not_found").await;
    }
    app.me(access(&bobs)).await;
    assert_eq!(app.refresh(refresh_token(&bobs)).await.status(), 200);
}

async fn an_expired_session_cannot_be_ended_again(backend: Backend) {
    let app = spawn_app(&backend).await;
    let old = app.signed_in("alice@example.com").await;
    app.clock.advance(Duration::from_secs(14 * 86_400 + 1));
    let now = app.logged_in("alice@example.com").await;

    let path = format!("/me/sessions/{}", sid(&old));
    let response = app
        .with_token(Method::DELETE, &path, access(&now), None)
        .await;

    assert_error(response, 404, "not_found").await;
    assert_eq!(app.my_sessions(access(&now)).await.len(), 1);
}

async fn logout_all_ends_every_session_of_the_caller_only(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("alice@example.com").await;
    let second = app.logged_in("alice@example.com").await;
    let bobs = app.signed_in("bob@example.com").await;

    let response = app
        .with_token(Method::POST, "/logout-all", access(&first), None)
        .await;

    assert_eq!(response.status(), 204);
    for tokens in [&first, &second] {
        app.assert_refresh_refused(&[tokens]).await;
        assert_session_ended(
            app.with_token(Method::GET, "/me", access(tokens), None)
                .await,
        )
        .await;
    }
    app.assert_revoked(&[&first, &second]).await;
    app.me(access(&bobs)).await;
}

async fn a_password_change_ends_the_other_sessions_and_keeps_the_callers(backend: Backend) {
    let app = spawn_app(&backend).await;
    let caller = app.signed_in("alice@example.com").await;
    let other = app.logged_in("alice@example.com").await;
    let new_password = "a brand new passphrase";

    let response = app
        .change_password(access(&caller), PASSWORD, new_password)
        .await;

    assert_eq!(response.status(), 204);
    app.assert_refresh_refused(&[&other]).await;
    assert_session_ended(
        app.with_token(Method::GET, "/me", access(&other), None)
            .await,
    )
    .await;
    assert_eq!(app.revoked_sids().await, [sid(&other)]);
    app.me(access(&caller)).await;
    assert_eq!(app.refresh(refresh_token(&caller)).await.status(), 200);
    assert_error(
        app.login("alice@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login("alice@example.com", new_password).await.status(),
        200
    );
}

async fn a_password_change_refuses_a_wrong_password_and_a_weak_one(backend: Backend) {
    let app = spawn_app(&backend).await;
    let tokens = app.signed_in("alice@example.com").await;
    let other = app.logged_in("alice@example.com").await;

    let wrong = app
        .change_password(access(&tokens), "not my password", "a brand new passphrase")
        .await;
    let description = assert_error(wrong, 401, "invalid_credentials").await;
    assert_eq!(description, "the password is wrong");
    let weak = app
        .change_password(access(&tokens), PASSWORD, "short")
        .await;
    assert_error(weak, 422, "invalid_request").await;
    let malformed = app
        .with_token(
            Method::POST,
            "/me/password",
            access(&tokens),
            Some(&json!({ "current_password": PASSWORD })),
        )
        .await;
    assert_error(malformed, 400, "invalid_request").await;

    // Nothing changed: the old password logs in, the other session refreshes.
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.refresh(refresh_token(&other)).await.status(), 200);
}

async fn guessing_the_current_password_meets_the_login_back_off(backend: Backend) {
    // One free failure per account, then back-off: a stolen access token cannot be used to
    // guess the password faster than logins can.
    let app = spawn_app_with(&backend, &["--login-account-free-attempts", "1"], |_| {}).await;
    let tokens = app.signed_in("alice@example.com").await;

    let first = app
        .change_password(access(&tokens), "guess one", "a brand new passphrase")
        .await;
    assert_error(first, 401, "invalid_credentials").await;
    let second = app
        .change_password(access(&tokens), PASSWORD, "a brand new passphrase")
        .await;

    assert_error(second, 429, "rate_limited").await;
}

impl TestApp {
    /// `DELETE /me` with `token` and `body`.
    async fn delete_me(&self, token: &str, body: &Value) -> Response {
        self.with_token(Method::DELETE, "/me", token, Some(body))
            .await
    }

    /// Rows of `table` whose `column` is `id`, read on a connection of its own.
    async fn rows_of(&self, table: &str, column: &str, id: &str) -> i64 {
        let mut db = self.second_connection().await;
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = '{id}'");
        let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut db)
            .await
            .expect("count");
        count
    }
}

async fn deleting_ones_own_account_needs_the_password_and_leaves_nothing(backend: Backend) {
    let app = spawn_app(&backend).await;
    let tokens = app.signed_in("alice@example.com").await;
    let other = app.logged_in("alice@example.com").await;
    let id = claims_of(access(&tokens))["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let missing = app.delete_me(access(&tokens), &json!({})).await;
    assert_error(missing, 400, "invalid_request").await;
    let wrong = app
        .delete_me(access(&tokens), &json!({ "password": "not it at all" }))
        .await;
    assert_error(wrong, 401, "invalid_credentials").await;
    assert_eq!(app.rows_of("users", "id", &id).await, 1);

    let deleted = app
        .delete_me(access(&tokens), &json!({ "password": PASSWORD }))
        .await;

    assert_eq!(deleted.status(), 204);
    assert_eq!(app.rows_of("users", "id", &id).await, 0);
    assert_eq!(app.rows_of("sessions", "user_id", &id).await, 0);
    assert_eq!(
        app.rows_of("login_failures", "key", "account:alice@example.com")
            .await,
        0,
        "the failed attempt is gone with the account"
    );
    app.assert_revoked(&[&tokens, &other]).await;
    assert_session_ended(
        app.with_token(Method::GET, "/me", access(&other), None)
            .await,
    )
    .await;
    app.assert_refresh_refused(&[&other]).await;
    let again = app.register("alice@example.com", None).await;
    assert_ne!(again["id"], id, "a new account");
}

async fn a_phone_account_confirms_its_deletion_with_a_fresh_code(backend: Backend) {
    let app = crate::otp::spawn_otp_app(&backend, &[]).await;
    let tokens = app.phone_signed_in(crate::otp::PHONE).await;
    let id = claims_of(access(&tokens))["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let missing = app
        .delete_me(access(&tokens), &json!({ "password": "x" }))
        .await;
    assert_error(missing, 400, "invalid_request").await;
    let code = app.code_for(crate::otp::PHONE).await;
    let wrong_code = if code.starts_with('0') { "1" } else { "0" }.to_owned() + &code[1..];
    let wrong = app
        .delete_me(access(&tokens), &json!({ "code": wrong_code }))
        .await;
    assert_error(wrong, 401, "invalid_credentials").await;

    let deleted = app
        .delete_me(access(&tokens), &json!({ "code": code }))
        .await;

    assert_eq!(deleted.status(), 204);
    assert_eq!(app.rows_of("users", "id", &id).await, 0);
    let again = app.phone_signed_in(crate::otp::PHONE).await;
    assert_ne!(claims_of(access(&again))["sub"], id, "a new account");
}

#[tokio::test]
async fn the_issuer_verifies_tokens_of_its_next_key_once_that_key_signs() {
    let keys = KeysDir::new();
    let app = keys.spawn_app().await;
    let before = app.signed_in("alice@example.com").await;
    app.me(access(&before)).await;

    let next = keys.rotate(&app.clock).kid;
    wait_for_jwks(&app, &[&keys.first, &next]).await;
    app.clock.advance(LEAD);
    let after = app.logged_in("alice@example.com").await;

    assert_eq!(kid_of(access(&after)), next);
    app.me(access(&after)).await;
}

async fn an_hs256_issuer_verifies_its_own_tokens_with_the_secret(backend: Backend) {
    let app = hs256_app(&backend, &shared_keys_dir().display().to_string()).await;
    let tokens = app.signed_in("alice@example.com").await;

    let profile = app.me(access(&tokens)).await;

    assert_eq!(profile["email"], "alice@example.com");
    assert_eq!(crate::helpers::header_of(access(&tokens))["alg"], "HS256");
}

backend_tests!(
    an_expired_session_cannot_be_ended_again,
    deleting_ones_own_account_needs_the_password_and_leaves_nothing,
    a_phone_account_confirms_its_deletion_with_a_fresh_code,
    an_hs256_issuer_verifies_its_own_tokens_with_the_secret,
    the_profile_shows_the_callers_own_account,
    self_service_refuses_requests_without_a_valid_token,
    the_session_list_shows_live_sessions_and_marks_the_callers,
    ending_one_session_refuses_its_tokens_and_keeps_the_others,
    logout_all_ends_every_session_of_the_caller_only,
    a_password_change_ends_the_other_sessions_and_keeps_the_callers,
    a_password_change_refuses_a_wrong_password_and_a_weak_one,
    guessing_the_current_password_meets_the_login_back_off,
);
