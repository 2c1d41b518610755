//! The layer in front of a tonic gRPC server: gRPC clients see the HTTP answers as the gRPC
//! statuses the HTTP-to-gRPC mapping gives them (401 UNAUTHENTICATED, 403 PERMISSION_DENIED).
//!
//! What it takes: tonic's response body (`tonic::body::Body`) cannot be made from bytes, which
//! the layer needs for its own answers, so the layer goes over a `map_response` that turns
//! tonic's body into one that can (`axum::body::Body::new`, or any `From<Bytes>` body).

use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;
use verifier_middleware::clock::Clock;

use crate::support::{builder, clock, key, token, token_with};

/// A gRPC health service behind the layer (role `user` required); a client connected to it.
async fn client() -> HealthClient<Channel> {
    let verifier = builder(&clock())
        .public_jwk(key(0).jwk.to_string())
        .build()
        .unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(verifier.layer().require_any_role(["user"]))
                    .map_response(|response: http::Response<tonic::body::Body>| {
                        response.map(axum::body::Body::new)
                    }),
            )
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

fn request(bearer: Option<&str>) -> tonic::Request<HealthCheckRequest> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = bearer {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn grpc_calls_get_unauthenticated_without_a_valid_token_and_pass_with_one() {
    let mut client = client().await;
    let now = clock().now();

    let missing = client.check(request(None)).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");

    let forged = client.check(request(Some("x.y.z"))).await.unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated, "{forged:?}");

    let raider = token_with(key(0), now, |claims| claims["role"] = "raider".into());
    let forbidden = client.check(request(Some(&raider))).await.unwrap_err();
    assert_eq!(forbidden.code(), Code::PermissionDenied, "{forbidden:?}");

    let genuine = token(key(0), now);
    assert!(client.check(request(Some(&genuine))).await.is_ok());
}
