//! Connection floods against the three real binaries: 1,000 idle TCP connections and 200 that
//! send half a request head and stall (slowloris), to each binary at once. Real clients are
//! still served, and every flooding connection is closed by the header read timeout.

use std::net::SocketAddr;
use std::time::Duration;

use test_support::stack::{Issuer, account, call, service_with};
use test_support::wait::PATIENCE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE: usize = 1_000;
const SLOW_HEADERS: usize = 200;

/// The header read timeout the binaries get here, so that the test sees the flood closed.
fn quick_header_timeout() -> (&'static str, String) {
    ("HEADER_READ_TIMEOUT", "2s".to_owned())
}

fn address_of(base_url: &str) -> SocketAddr {
    base_url
        .trim_start_matches("http://")
        .parse()
        .expect("a base URL is http://IP:PORT")
}

/// [`IDLE`] connections that send nothing and [`SLOW_HEADERS`] that send part of a request head.
async fn flood(address: SocketAddr) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(IDLE + SLOW_HEADERS);
    for _ in 0..IDLE {
        connections.push(TcpStream::connect(address).await.expect("idle connection"));
    }
    for _ in 0..SLOW_HEADERS {
        let mut slow = TcpStream::connect(address).await.expect("slow connection");
        slow.write_all(b"POST /login HTTP/1.1\r\nHost: flood\r\nX-Never-Ends: ")
            .await
            .expect("half a head");
        connections.push(slow);
    }
    connections
}

/// Waits until the server has closed `connection` (read gives EOF or a reset).
async fn closed_by_server(mut connection: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, connection.read_to_end(&mut received))
        .await
        .expect("the server closes a connection that never sends its head");
    if let Err(error) = read {
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }
    received
}

#[tokio::test]
async fn idle_and_slow_header_floods_leave_every_binary_serving_real_clients() {
    let issuer = Issuer::start_with(0, &[quick_header_timeout()]);
    let users = service_with(
        "user-service",
        &issuer.jwks_url(),
        &[quick_header_timeout()],
    );
    let raiders = service_with(
        "raider-service",
        &issuer.jwks_url(),
        &[quick_header_timeout()],
    );
    let mut floods = Vec::new();
    for base_url in [
        issuer.url(),
        users.base_url.as_str(),
        raiders.base_url.as_str(),
    ] {
        floods.extend(flood(address_of(base_url)).await);
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let alice = account(&client, issuer.url(), "alice@example.com", "user").await;
    let bob = account(&client, issuer.url(), "bob@example.com", "raider").await;
    let book = format!("{}/book", users.base_url);
    let accept = format!("{}/accept-booking", raiders.base_url);
    assert_eq!(call(&client, book, Some(&alice)).await.status(), 200);
    assert_eq!(call(&client, accept, Some(&bob)).await.status(), 200);

    assert_eq!(floods.len(), 3 * (IDLE + SLOW_HEADERS));
    for connection in floods {
        let answer = closed_by_server(connection).await;
        assert!(
            !answer.starts_with(b"HTTP/1.1 2"),
            "a connection without a whole head is never served"
        );
    }
}
