//! Repeated failed logins: 429 `rate_limited` with `Retry-After`, easing off with time; the
//! client address comes from the TCP peer unless a proxy header is configured.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, backend_tests, spawn_app, spawn_app_with,
};

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

    // Without the reset, the first of these would be the sixth failure and block the second.
    for attempt in 0..2 {
        assert_eq!(
            app.login("alice@example.com", "not the password")
                .await
                .status(),
            401,
            "attempt {attempt} after the success: the count was reset"
        );
    }
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

/// `POST /login` with a wrong password and the given extra header.
async fn fail_login_with_header(app: &TestApp, email: &str, header: (&str, &str)) -> u16 {
    app.client
        .post(format!("{}/login", app.address))
        .header(header.0, header.1)
        .json(&json!({ "email": email, "password": "not the password" }))
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

async fn by_default_forwarding_headers_are_ignored_so_they_cannot_dodge_the_back_off(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    for i in 0..20 {
        let spoofed = format!("198.51.100.{i}");
        let status = fail_login_with_header(
            &app,
            &format!("user{i}@example.com"),
            ("x-forwarded-for", &spoofed),
        )
        .await;
        assert_eq!(status, 401);
    }

    let status = fail_login_with_header(
        &app,
        "user99@example.com",
        ("x-forwarded-for", "198.51.100.99"),
    )
    .await;

    assert_eq!(status, 429, "the peer address was counted, not the header");
}

async fn behind_a_configured_proxy_each_forwarded_client_is_counted_apart(backend: Backend) {
    let app = spawn_app_with(&backend, &["--client-ip-source", "XRealIp"], |_| {}).await;
    for i in 0..20 {
        let status = fail_login_with_header(
            &app,
            &format!("user{i}@example.com"),
            ("x-real-ip", "198.51.100.7"),
        )
        .await;
        assert_eq!(status, 401);
    }

    let blocked =
        fail_login_with_header(&app, "user99@example.com", ("x-real-ip", "198.51.100.7")).await;
    let other =
        fail_login_with_header(&app, "user99@example.com", ("x-real-ip", "198.51.100.8")).await;

    assert_eq!(blocked, 429);
    assert_eq!(
        other, 401,
        "another client behind the same proxy is not blocked"
    );
}

async fn behind_a_configured_proxy_a_request_without_its_header_is_400(backend: Backend) {
    let app = spawn_app_with(&backend, &["--client-ip-source", "XRealIp"], |_| {}).await;

    let response = app.login("a@example.com", PASSWORD).await;

    let description = assert_error(response, 400, "invalid_request").await;
    assert_eq!(
        description,
        "the client address header set by the proxy is missing"
    );
}

/// How the answers to a burst of logins came out.
#[derive(Debug, Default)]
pub(crate) struct BurstOutcome {
    /// Answers other than 429: attempts whose password was checked.
    pub(crate) checked: usize,
    /// Answers 429.
    pub(crate) refused: usize,
    /// The answer to the right password.
    pub(crate) right_password: u16,
}

/// Sends `attempts` (e-mail, password) logins all at once, through `login`, and counts the
/// answers; the attempt with `right` as password is reported apart.
pub(crate) async fn burst<F, Fut>(
    attempts: Vec<(String, String)>,
    right: &str,
    login: F,
) -> BurstOutcome
where
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let mut requests = tokio::task::JoinSet::new();
    for (email, password) in attempts {
        let is_right = password == right;
        let response = login(email, password);
        requests.spawn(async move { (is_right, response.await.status().as_u16()) });
    }
    let mut outcome = BurstOutcome::default();
    while let Some(answer) = requests.join_next().await {
        let (is_right, status) = answer.expect("request task");
        match status {
            429 => outcome.refused += 1,
            200 | 401 => outcome.checked += 1,
            other => panic!("unexpected status {other}"),
        }
        if is_right {
            outcome.right_password = status;
        }
    }
    outcome
}

/// The burst size of the security report: 39 wrong passwords and the right one, at once.
const BURST: usize = 40;

/// `BURST` attempts on `emails` (cycled), the right password at index 17.
pub(crate) fn burst_of(emails: &[String]) -> Vec<(String, String)> {
    (0..BURST)
        .map(|i| {
            let password = if i == 17 {
                PASSWORD
            } else {
                "not the password"
            };
            (emails[i % emails.len()].clone(), password.to_owned())
        })
        .collect()
}

/// Asserts that one attempt of the burst was checked, and the right password was refused
/// unless it was that one.
pub(crate) fn assert_one_checked(outcome: &BurstOutcome) {
    assert_eq!(outcome.checked, 1, "{outcome:?}");
    assert_eq!(outcome.refused, BURST - 1, "{outcome:?}");
    assert!(
        outcome.right_password == 429 || outcome.right_password == 200,
        "{outcome:?}"
    );
}

impl TestApp {
    async fn burst(&self, attempts: Vec<(String, String)>) -> BurstOutcome {
        let client = self.client.clone();
        let url = format!("{}/login", self.address);
        burst(attempts, PASSWORD, move |email, password| {
            let request = client
                .post(&url)
                .json(&json!({ "email": email, "password": password }));
            async move { request.send().await.expect("request sent") }
        })
        .await
    }
}

async fn a_parallel_burst_after_the_back_off_checks_one_password(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }
    app.clock.advance(Duration::from_secs(1));
    let hashes_before = app.hashing().completed;

    let outcome = app.burst(burst_of(&["alice@example.com".to_owned()])).await;

    assert_one_checked(&outcome);
    assert_eq!(
        app.hashing().completed - hashes_before,
        1,
        "one password hashed"
    );
}

async fn a_parallel_burst_from_one_address_against_many_accounts_checks_one_password(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    app.register("user17@example.com", None).await;
    for i in 0..20 {
        app.login(&format!("other{i}@example.com"), "not the password")
            .await;
    }
    app.clock.advance(Duration::from_secs(1));
    let hashes_before = app.hashing().completed;
    let emails: Vec<String> = (0..BURST).map(|i| format!("user{i}@example.com")).collect();

    let outcome = app.burst(burst_of(&emails)).await;

    assert_one_checked(&outcome);
    assert_eq!(
        app.hashing().completed - hashes_before,
        1,
        "one password hashed"
    );
}

async fn the_right_password_after_a_refused_burst_still_logs_in_once_the_block_ends(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    for _ in 0..5 {
        app.login("alice@example.com", "not the password").await;
    }
    let refused = app.burst(burst_of(&["alice@example.com".to_owned()])).await;
    assert_eq!(
        refused.refused, BURST,
        "all refused during the block: {refused:?}"
    );

    app.clock.advance(Duration::from_secs(1));

    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        200,
        "the refused attempts were not counted: one block step, not forty"
    );
}

backend_tests!(
    a_parallel_burst_after_the_back_off_checks_one_password,
    a_parallel_burst_from_one_address_against_many_accounts_checks_one_password,
    the_right_password_after_a_refused_burst_still_logs_in_once_the_block_ends,
    by_default_forwarding_headers_are_ignored_so_they_cannot_dodge_the_back_off,
    behind_a_configured_proxy_each_forwarded_client_is_counted_apart,
    behind_a_configured_proxy_a_request_without_its_header_is_400,
    five_failures_on_an_account_make_the_next_attempt_429_with_retry_after,
    a_throttled_login_does_no_password_work,
    the_block_lifts_once_retry_after_has_passed_and_success_resets_it,
    the_delay_doubles_with_each_further_failure,
    another_account_is_not_throttled,
    one_address_guessing_many_accounts_is_throttled_too,
);
