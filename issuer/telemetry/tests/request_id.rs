//! `x-request-id` over a real socket: a client's id is kept only when it is short visible ASCII;
//! any other is replaced by a fresh UUID, which is the id the app sees (and so the one its logs
//! and Sentry tags carry) and the one returned.
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use telemetry::REQUEST_ID_HEADER;

/// An instrumented app on port 0: `/echo` answers with the request id it was given, `/own`
/// sets an id of its own on its answer.
async fn start_app() -> String {
    let routes = Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get(REQUEST_ID_HEADER)
                    .map(|id| id.as_bytes().to_vec())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/own",
            get(|| async { ([(REQUEST_ID_HEADER, "handler-1")], "") }),
        );
    let app = telemetry::instrument(routes, server_error, Duration::from_secs(30));
    test_support::serve(app).await
}

fn server_error() -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// What the client got back: the response's id, and the id the app saw.
struct Ids {
    returned: Vec<u8>,
    seen_by_the_app: Vec<u8>,
}

async fn send(request_id: &[u8]) -> Ids {
    let url = start_app().await;
    let response = reqwest::Client::new()
        .get(format!("{url}/echo"))
        .header(
            REQUEST_ID_HEADER,
            HeaderValue::from_bytes(request_id).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned = response.headers()[REQUEST_ID_HEADER].as_bytes().to_vec();
    let seen_by_the_app = response.bytes().await.unwrap().to_vec();
    Ids {
        returned,
        seen_by_the_app,
    }
}

/// Asserts that `sent` was replaced by a fresh UUID, the same on both sides.
async fn assert_replaced(sent: &[u8]) {
    let ids = send(sent).await;

    assert_ne!(ids.returned, sent);
    assert_eq!(
        ids.seen_by_the_app, ids.returned,
        "one id for the app and the client"
    );
    let returned = std::str::from_utf8(&ids.returned).expect("ASCII");
    assert!(
        uuid::Uuid::try_parse(returned).is_ok(),
        "a UUID: {returned:?}"
    );
}

#[tokio::test]
async fn a_short_visible_ascii_request_id_is_echoed() {
    let ids = send(b"req-7f3a_9:b/c~!").await;

    assert_eq!(ids.returned, b"req-7f3a_9:b/c~!");
    assert_eq!(ids.seen_by_the_app, b"req-7f3a_9:b/c~!");
}

#[tokio::test]
async fn a_request_id_of_exactly_128_bytes_is_kept() {
    let sent = [b'a'; 128];

    let ids = send(&sent).await;

    assert_eq!(ids.returned, sent);
    assert_eq!(ids.seen_by_the_app, sent);
}

#[tokio::test]
async fn a_request_id_of_129_bytes_gets_a_fresh_uuid() {
    assert_replaced(&[b'a'; 129]).await;
}

#[tokio::test]
async fn a_request_id_with_a_space_gets_a_fresh_uuid() {
    assert_replaced(b"req 42").await;
}

#[tokio::test]
async fn a_request_id_that_is_not_utf8_gets_a_fresh_uuid() {
    assert_replaced(b"req-\xff\xfe-caf\xc3").await;
}

#[tokio::test]
async fn an_8_kib_request_id_gets_a_fresh_uuid() {
    assert_replaced(&[b'a'; 8 * 1024]).await;
}

#[tokio::test]
async fn an_id_the_handler_sets_on_its_answer_is_kept() {
    let url = start_app().await;

    let response = reqwest::Client::new()
        .get(format!("{url}/own"))
        .header(REQUEST_ID_HEADER, "req-client")
        .send()
        .await
        .unwrap();

    let ids: Vec<_> = response
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .collect();
    assert_eq!(ids, ["handler-1"]);
}

#[tokio::test]
async fn a_request_without_an_id_gets_a_fresh_uuid() {
    let url = start_app().await;

    let response = reqwest::get(format!("{url}/echo")).await.unwrap();

    let returned = response.headers()[REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::try_parse(&returned).is_ok(), "{returned:?}");
    assert_eq!(response.text().await.unwrap(), returned);
}
