//! A panic anywhere under `instrument` is answered with the service's panic response, over a
//! real socket, and the process keeps serving: in a handler's future, and in a layer's `call`
//! before any future exists (a middleware that inspects the request synchronously).
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

async fn start_app() -> String {
    let routes = Router::new()
        .route(
            "/in-future",
            get(|| async {
                if StatusCode::OK.is_success() {
                    panic!("the handler gave up");
                }
                "unreachable"
            }),
        )
        .route_service(
            "/in-call",
            tower::service_fn(
                |_: Request| -> std::future::Ready<Result<Response, Infallible>> {
                    panic!("the service gave up before making a future")
                },
            ),
        )
        .route("/ok", get(|| async { "fine" }));
    let app = telemetry::instrument(routes, panic_response, Duration::from_secs(30));
    test_support::serve(app).await
}

fn panic_response() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

#[tokio::test]
async fn a_panic_in_a_future_or_in_call_is_answered_500_and_the_server_keeps_serving() {
    let url = start_app().await;
    let client = reqwest::Client::new();

    for path in ["/in-future", "/in-call", "/in-call"] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 500, "{path}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        assert_eq!(response.text().await.unwrap(), "internal error", "{path}");
    }
    let ok = client.get(format!("{url}/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "fine");
}
