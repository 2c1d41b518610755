//! A real Sentry client, set up by `telemetry::init`, sending to a local HTTP server that
//! records envelopes, in front of a real app on a real socket: 5xx answers and panics are
//! reported with their tags and without secrets, 4xx are not.
//!
//! Sentry's client is process-wide, so every test of this binary shares one client and one
//! receiver (`test_support::sentry`); each test finds its own events by the request id it sent.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use telemetry::{Telemetry, TelemetryArgs};
use test_support::sentry::Envelopes;

/// A token and a password the app sees; neither may reach Sentry.
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";
const PASSWORD: &str = "correct horse battery staple";

/// The receiver, and the client sending to it.
struct Receiver {
    envelopes: Envelopes,
    _telemetry: Telemetry,
}

/// The receiver on a thread (and runtime) of its own, and the Sentry client pointed at it.
fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        let (started, envelopes) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                started.send(Envelopes::start().await).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let envelopes = envelopes.recv().expect("receiver started");
        let args = TelemetryArgs {
            sentry_dsn: Some(envelopes.dsn()),
            sentry_environment: Some("test".into()),
            ..TelemetryArgs::default()
        };
        let telemetry = telemetry::init("telemetry-test", "9.9.9", &args).expect("telemetry");
        Receiver {
            envelopes,
            _telemetry: telemetry,
        }
    })
}

/// The first event of the request `request_id`, waiting for it to arrive (bounded).
async fn event_for(request_id: &str) -> Value {
    receiver()
        .envelopes
        .event_tagged("request_id", request_id)
        .await
}

fn events_for(request_id: &str) -> usize {
    receiver().envelopes.count_tagged("request_id", request_id)
}

/// An app with a route per outcome, instrumented like the services, on port 0.
async fn start_app() -> String {
    let routes = Router::new()
        .route(
            "/orders/{id}",
            post(|| async {
                tracing::error!("storage failed while the client sent {TOKEN}");
                (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()
            }),
        )
        .route(
            "/panic/{id}",
            get(|| async {
                let password = PASSWORD;
                if !password.is_empty() {
                    panic!("handler gave up on {TOKEN}");
                }
                "unreachable"
            }),
        )
        .route("/private", get(|| async { StatusCode::UNAUTHORIZED }));
    let app = telemetry::instrument(routes, server_error, Duration::from_secs(30));
    test_support::serve(app).await
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

async fn send(method: reqwest::Method, url: &str, request_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, url)
        .header("x-request-id", request_id)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", format!("session={TOKEN}"))
        .body(format!("{{\"password\":\"{PASSWORD}\"}}"))
        .send()
        .await
        .unwrap()
}

/// Sends a request that fails and waits for its report. Reports leave in order, so once it
/// has arrived, every report of an earlier request has arrived too.
async fn drain_reports(url: &str, request_id: &str) {
    send(
        reqwest::Method::POST,
        &format!("{url}/orders/0"),
        request_id,
    )
    .await;
    event_for(request_id).await;
}

fn assert_no_secret(event: &Value) {
    let text = event.to_string();
    assert!(!text.contains("eyJ"), "a token reached Sentry: {text}");
    assert!(
        !text.contains(PASSWORD),
        "a password reached Sentry: {text}"
    );
}

#[tokio::test]
async fn a_5xx_is_reported_with_method_route_status_release_and_environment() {
    receiver();
    let url = start_app().await;

    let response = send(
        reqwest::Method::POST,
        &format!("{url}/orders/12345"),
        "req-5xx",
    )
    .await;

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-request-id"], "req-5xx");
    let event = event_for("req-5xx").await;
    assert_eq!(event["tags"]["http.method"], "POST");
    assert_eq!(event["tags"]["http.route"], "/orders/{id}");
    assert_eq!(event["tags"]["http.status_code"], "503");
    assert_eq!(event["release"], "telemetry-test@9.9.9");
    assert_eq!(event["environment"], "test");
    // The protocol leaves out the default level, `error`.
    assert_eq!(event.get("level").unwrap_or(&"error".into()), "error");
    assert!(
        !event.to_string().contains("12345"),
        "the raw path: {event}"
    );
    assert_no_secret(&event);
}

#[tokio::test]
async fn an_error_log_inside_a_request_rides_on_its_report_as_a_breadcrumb() {
    receiver();
    let url = start_app().await;

    send(
        reqwest::Method::POST,
        &format!("{url}/orders/1"),
        "req-crumb",
    )
    .await;

    let event = event_for("req-crumb").await;
    let crumbs = event["breadcrumbs"]["values"].as_array().unwrap();
    assert!(
        crumbs.iter().any(|crumb| crumb["message"]
            .as_str()
            .unwrap_or_default()
            .contains("storage failed")),
        "{event}"
    );
    assert_eq!(events_for("req-crumb"), 1, "one report per request");
    assert_no_secret(&event);
}

#[tokio::test]
async fn a_panic_is_answered_500_and_reported_once_with_its_tags() {
    receiver();
    let url = start_app().await;

    let response = send(reqwest::Method::GET, &format!("{url}/panic/7"), "req-panic").await;

    assert_eq!(response.status(), 500);
    let event = event_for("req-panic").await;
    assert_eq!(
        event["exception"]["values"][0]["mechanism"]["type"],
        "panic"
    );
    assert_eq!(event["tags"]["http.route"], "/panic/{id}");
    assert_eq!(event["tags"]["http.status_code"], "500");
    assert_no_secret(&event);
    drain_reports(&url, "req-after-panic").await;
    assert_eq!(events_for("req-panic"), 1);
}

#[tokio::test]
async fn a_4xx_is_not_reported() {
    receiver();
    let url = start_app().await;

    let response = send(reqwest::Method::GET, &format!("{url}/private"), "req-401").await;
    assert_eq!(response.status(), 401);
    drain_reports(&url, "req-after-401").await;

    assert_eq!(events_for("req-401"), 0);
}
