//! With Sentry unreachable, the app keeps answering: reports queue on Sentry's own thread,
//! and past the queue's bound they are dropped, never waited for.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use telemetry::TelemetryArgs;

/// More reports than Sentry's queue holds (30), so that a blocking send would show.
const FAILING_REQUESTS: usize = 100;

#[tokio::test]
async fn with_the_receiver_down_every_request_is_still_answered() {
    // Nothing listens there.
    let port = test_support::free_port();
    let args = TelemetryArgs {
        sentry_dsn: Some(format!("http://public@127.0.0.1:{port}/1")),
        ..TelemetryArgs::default()
    };
    let _telemetry = telemetry::init("telemetry-test", "9.9.9", &args).unwrap();
    let routes = Router::new()
        .route("/fail", get(|| async { StatusCode::BAD_GATEWAY }))
        .route("/panic", get(panicking))
        .route("/ok", get(|| async { "fine" }));
    let app = telemetry::instrument(routes, server_error, Duration::from_secs(30));
    let url = test_support::serve(app).await;
    let client = reqwest::Client::new();

    for _ in 0..FAILING_REQUESTS {
        let response = client.get(format!("{url}/fail")).send().await.unwrap();
        assert_eq!(response.status(), 502);
    }
    let panicked = client.get(format!("{url}/panic")).send().await.unwrap();
    let ok = client.get(format!("{url}/ok")).send().await.unwrap();

    assert_eq!(panicked.status(), 500);
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "fine");
}

async fn panicking() -> &'static str {
    panic!("reported to nobody")
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}
