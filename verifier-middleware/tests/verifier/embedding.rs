//! Embedding the layer: a plain tower service, the axum extractors, HS256 and mixed sources.

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use verifier_middleware::clock::Clock;
use verifier_middleware::{Claims, JwtAuthLayer, VerifiedClaims};

use crate::support::{
    SECRET, TestApp, assert_invalid_token, builder, claims_at, clock, key, sign, token,
};

fn request(token: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::builder();
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Full::default()).unwrap()
}

#[derive(Debug, PartialEq)]
struct Boom;

#[tokio::test]
async fn a_plain_tower_service_gets_the_claims_and_keeps_its_error_type() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(&key(0).public_pem)
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(verifier))
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            let claims = request.extensions().get::<VerifiedClaims>().unwrap();
            if claims.subject() == Some("boom") {
                return Err(Boom);
            }
            Ok(Response::new(Full::<Bytes>::from(
                claims.get("email").unwrap().as_str().unwrap().to_owned(),
            )))
        }));

    let ok = service
        .clone()
        .oneshot(request(Some(&token(key(0), clock.now()))))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.into_body().collect().await.unwrap().to_bytes(),
        "alice@example.com"
    );

    let refused = service.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "invalid_request");

    let boom = crate::support::token_with(key(0), clock.now(), |c| c["sub"] = json!("boom"));
    assert_eq!(
        service.oneshot(request(Some(&boom))).await.unwrap_err(),
        Boom
    );
}

#[tokio::test]
async fn a_static_pem_key_verifies_tokens_with_any_kid() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(&key(0).public_pem)
        .build()
        .unwrap();

    let claims = verifier.verify(&token(key(0), clock.now())).await.unwrap();

    assert_eq!(claims.subject(), Some("user-1"));
    assert_eq!(claims.roles(), ["user"]);
    assert!(verifier.verify(&token(key(1), clock.now())).await.is_err());
}

#[derive(Deserialize)]
struct Booking {
    email: String,
    role: String,
}

#[derive(Deserialize)]
struct NeedsTenant {
    #[allow(dead_code)]
    tenant: String,
}

#[tokio::test]
async fn axum_extractors_read_custom_claims_and_optional_claims() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(&key(0).public_pem)
        .build()
        .unwrap();
    let protected = Router::new()
        .route(
            "/booking",
            get(|Claims(booking): Claims<Booking>| async move {
                format!("{} as {}", booking.email, booking.role)
            }),
        )
        .route(
            "/tenant",
            get(|Claims(_): Claims<NeedsTenant>| async { "tenant" }),
        )
        .layer(verifier.layer());
    let open = Router::new()
        .route(
            "/greeting",
            get(|claims: Option<Claims<Booking>>| async move {
                match claims {
                    Some(Claims(booking)) => format!("hello {}", booking.email),
                    None => "hello stranger".to_owned(),
                }
            }),
        )
        .layer(verifier.layer().optional());
    let unguarded = Router::new().route("/oops", get(|_: VerifiedClaims| async { "never" }));
    let base = test_support::serve(protected.merge(open).merge(unguarded)).await;
    let client = reqwest::Client::new();
    let token = token(key(0), clock.now());
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let booking = get("/booking", Some(&token)).await.unwrap();
    assert_eq!(booking.text().await.unwrap(), "alice@example.com as user");
    let anonymous = get("/greeting", None).await.unwrap();
    assert_eq!(anonymous.text().await.unwrap(), "hello stranger");
    let known = get("/greeting", Some(&token)).await.unwrap();
    assert_eq!(known.text().await.unwrap(), "hello alice@example.com");
    let bad = get("/greeting", Some("not.a.token")).await.unwrap();
    assert_eq!(bad.status(), 401, "a token that is present must be valid");
    let shape = get("/tenant", Some(&token)).await.unwrap();
    assert_invalid_token(shape, "the token claims are malformed").await;
    let misconfigured = get("/oops", Some(&token)).await.unwrap();
    assert_eq!(misconfigured.status(), 500);
    let body = misconfigured.text().await.unwrap();
    assert!(!body.contains("JwtAuthLayer"), "internals stay out: {body}");
}

#[tokio::test]
async fn require_any_role_on_the_auth_layer_guards_a_whole_router() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(&key(0).public_pem)
        .build()
        .unwrap();
    let router = Router::new()
        .route("/accept-booking", get(|| async { "accepted" }))
        .layer(verifier.layer().require_any_role(["raider", "admin"]));
    let base = test_support::serve(router).await;
    let client = reqwest::Client::new();
    let call = |token: String| {
        client
            .get(format!("{base}/accept-booking"))
            .bearer_auth(token)
            .send()
    };

    let user = call(token(key(0), clock.now())).await.unwrap();
    assert_eq!(user.status(), 403);
    let body: serde_json::Value = user.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "the token carries none of the roles this route needs (raider or admin)"
    );
    let raider = crate::support::token_with(key(0), clock.now(), |c| c["role"] = json!("raider"));
    assert_eq!(call(raider).await.unwrap().status(), 200);
}

fn hs256_token(secret: &[u8], claims: &serde_json::Value) -> String {
    sign(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        claims,
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
}

#[tokio::test]
async fn an_hs256_secret_verifies_hs256_tokens_only() {
    let clock = clock();
    let verifier = builder(&clock).hs256_secret(SECRET).build().unwrap();
    let app = TestApp::start(&verifier).await;
    let claims = claims_at(clock.now());

    let good = hs256_token(SECRET.as_bytes(), &claims);
    assert_eq!(app.get("/user", Some(&good)).await.status(), 200);
    let wrong_secret = hs256_token(b"another secret that is long enough!!", &claims);
    assert_invalid_token(
        app.get("/any", Some(&wrong_secret)).await,
        "the token signature is invalid",
    )
    .await;
    let rs256 = token(key(0), clock.now());
    assert_invalid_token(
        app.get("/any", Some(&rs256)).await,
        "the token's algorithm is not accepted",
    )
    .await;
    let hs512 = sign(
        &json!({ "alg": "HS512" }),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS512,
    );
    assert_invalid_token(
        app.get("/any", Some(&hs512)).await,
        "the token's algorithm is not accepted",
    )
    .await;
}

#[tokio::test]
async fn a_secret_and_an_rsa_key_together_each_verify_only_their_algorithm() {
    let clock = clock();
    let verifier = builder(&clock)
        .hs256_secret(SECRET)
        .public_key_pem(&key(0).public_pem)
        .build()
        .unwrap();
    let claims = claims_at(clock.now());

    verifier
        .verify(&hs256_token(SECRET.as_bytes(), &claims))
        .await
        .unwrap();
    verifier.verify(&token(key(0), clock.now())).await.unwrap();
    // The classic confusion: HS256 keyed with the RSA public key.
    let confused = hs256_token(key(0).public_pem.as_bytes(), &claims);
    assert!(verifier.verify(&confused).await.is_err());
}
