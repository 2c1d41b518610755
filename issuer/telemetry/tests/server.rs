//! `telemetry::serve` on a real socket, serving an `instrument`ed router: the request timeout
//! answers 503 in the JSON error shape, connections that never finish their request head are
//! closed, and the connection cap holds a further connection back until one ends.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use telemetry::ServerLimits;
use test_support::wait::PATIENCE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `/fast` answers the client's address, `/slow` never answers.
fn router() -> Router {
    Router::new()
        .route(
            "/fast",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/slow", get(std::future::pending::<&'static str>))
}

fn limits(
    request_timeout: Duration,
    header_read_timeout: Duration,
    max_connections: u32,
) -> ServerLimits {
    ServerLimits {
        request_timeout,
        header_read_timeout,
        max_connections,
    }
}

fn server_error() -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Serves [`router`], instrumented, within `limits`; its address.
async fn start(limits: ServerLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = telemetry::instrument(router(), server_error, limits.request_timeout);
    tokio::spawn(
        async move { telemetry::serve(listener, app, &limits, std::future::pending()).await },
    );
    address
}

/// Reads until the server closes the connection (at most [`PATIENCE`]); what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closed the connection")
        .expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

const FAST: &[u8] = b"GET /fast HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_request_not_answered_in_time_is_503_json_with_retry_after_and_others_are_served() {
    let address = start(limits(Duration::from_millis(200), PATIENCE, 16)).await;
    let get = async |path: &str| {
        reqwest::get(format!("http://{address}{path}"))
            .await
            .unwrap()
    };

    let slow = get("/slow").await;
    assert_eq!(slow.status(), 503);
    assert_eq!(slow.headers()["retry-after"], "1");
    let id = slow.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::try_parse(id).is_ok(),
        "the request's id: {id:?}"
    );
    assert_eq!(slow.headers()["content-type"], "application/json");
    let body: serde_json::Value = slow.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        body["error_description"],
        "the request took too long; retry shortly"
    );

    let fast = get("/fast").await;
    assert_eq!(fast.status(), 200);
    assert_eq!(
        fast.text().await.unwrap(),
        "127.0.0.1",
        "handlers see ConnectInfo"
    );
}

#[tokio::test]
async fn a_connection_that_does_not_finish_its_request_head_in_time_is_closed() {
    let address = start(limits(PATIENCE, Duration::from_millis(300), 16)).await;

    let mut silent = TcpStream::connect(address).await.unwrap();
    let mut slow_headers = TcpStream::connect(address).await.unwrap();
    slow_headers
        .write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .unwrap();

    assert_eq!(
        read_to_close(&mut silent).await,
        "",
        "no answer: there is no request"
    );
    let answer = read_to_close(&mut slow_headers).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    let mut prompt = TcpStream::connect(address).await.unwrap();
    prompt.write_all(FAST).await.unwrap();
    assert!(
        read_to_close(&mut prompt)
            .await
            .starts_with("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn beyond_the_connection_cap_a_connection_waits_until_one_ends() {
    let address = start(limits(PATIENCE, PATIENCE, 1)).await;

    // The one connection served: a keep-alive one, answered and left open.
    let mut first = TcpStream::connect(address).await.unwrap();
    first
        .write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 15];
    first.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200 OK");

    // A second one connects (the kernel queues it) and asks, but is not accepted yet.
    let mut second = TcpStream::connect(address).await.unwrap();
    second.write_all(FAST).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(second.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the second connection must wait while the first holds the only place"
    );

    drop(first);
    assert!(
        read_to_close(&mut second)
            .await
            .starts_with("HTTP/1.1 200 OK")
    );
}
