//! Browser apps on other origins (`CORS_ALLOWED_ORIGINS`): the allowed origins' preflights are
//! answered and their requests carry CORS headers; other origins, and every origin while the
//! list is empty (the default), get none.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, backend_tests, spawn_app, spawn_app_with};

const ALLOWED: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example.net";

async fn spawn_with_cors(backend: &Backend) -> TestApp {
    let origins = format!("{ALLOWED},http://localhost:5173");
    spawn_app_with(backend, &["--cors-allowed-origins", &origins], |_| {}).await
}

/// The browser's preflight for a JSON `POST path` from `origin`.
async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

/// `POST /login` with the right password, from `origin`.
async fn login_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/login", app.address))
        .header("origin", origin)
        .json(&json!({ "email": "alice@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

async fn an_allowed_origins_preflight_is_answered_with_what_it_may_send(backend: Backend) {
    let app = spawn_with_cors(&backend).await;

    let answer = preflight(&app, "/login", ALLOWED).await;

    assert_eq!(answer.status(), 200);
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    for header in ["authorization", "content-type", "x-request-id"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert_eq!(headers["access-control-max-age"], "600");
    assert!(!headers.contains_key("access-control-allow-credentials"));
}

async fn an_allowed_origins_request_carries_its_origin_and_exposed_headers(backend: Backend) {
    let app = spawn_with_cors(&backend).await;
    app.register("alice@example.com", None).await;

    let login = login_from(&app, ALLOWED).await;

    assert_eq!(login.status(), 200);
    let headers = login.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED);
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert!(!headers.contains_key("access-control-allow-credentials"));
    assert!(
        headers
            .get_all("vary")
            .iter()
            .any(|value| value.to_str().unwrap().contains("origin")),
        "{headers:?}"
    );
}

async fn another_origin_gets_no_cors_header_and_the_issuer_answers_as_usual(backend: Backend) {
    let app = spawn_with_cors(&backend).await;
    app.register("alice@example.com", None).await;

    let asked = preflight(&app, "/login", OTHER).await;
    let login = login_from(&app, OTHER).await;

    // No preflight answer: `/login` takes POST only.
    assert_eq!(asked.status(), 405);
    assert_eq!(cors_headers(asked.headers()), Vec::<String>::new());
    assert_eq!(login.status(), 200);
    assert_eq!(cors_headers(login.headers()), Vec::<String>::new());
    // A shared cache must not hand this answer to an allowed origin.
    assert_eq!(login.headers()["vary"], "origin");
}

async fn a_timeout_answer_carries_the_cors_headers_too(backend: Backend) {
    let flags = [
        "--cors-allowed-origins",
        ALLOWED,
        // A login hashes for tens of milliseconds: every one times out.
        "--request-timeout",
        "1ms",
    ];
    let app = spawn_app_with(&backend, &flags, |_| {}).await;

    let login = login_from(&app, ALLOWED).await;

    assert_eq!(login.status(), 503);
    let headers = login.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED);
    assert_eq!(headers["retry-after"], "1");
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("retry-after"), "{exposed}");
}

async fn cors_is_off_by_default(backend: Backend) {
    let app = spawn_app(&backend).await;

    let asked = preflight(&app, "/login", ALLOWED).await;
    let keys = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();

    assert_eq!(asked.status(), 405);
    assert_eq!(cors_headers(asked.headers()), Vec::<String>::new());
    assert_eq!(keys.status(), 200);
    assert_eq!(cors_headers(keys.headers()), Vec::<String>::new());
    assert!(!keys.headers().contains_key("vary"));
}

backend_tests!(
    an_allowed_origins_preflight_is_answered_with_what_it_may_send,
    an_allowed_origins_request_carries_its_origin_and_exposed_headers,
    another_origin_gets_no_cors_header_and_the_issuer_answers_as_usual,
    a_timeout_answer_carries_the_cors_headers_too,
    cors_is_off_by_default,
);
