//! The revocation list against a real list server: the poll bound, conditional refreshes,
//! single flight, and failing open during an outage.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use verifier_middleware::clock::{Clock, ManualClock};
use verifier_middleware::{BuildError, Verifier};

use crate::support::{
    JwksServer, Mode, TestApp, assert_invalid_token, builder, clock, key, token, token_with,
};

const INTERVAL: Duration = Duration::from_secs(30);
const ENDED: &str = "the token's session has ended";

/// A list server (the same real document server the JWKS tests use) listing `sids`.
async fn list_server(sids: &[&str]) -> JwksServer {
    let server = JwksServer::start(&[]).await;
    server.set_jwks(json!({ "sids": sids }));
    server
}

/// A verifier with a static key (so every download counted is the list's) and the list.
fn verifier(server: &JwksServer, clock: &ManualClock) -> Verifier {
    builder(clock)
        .public_key_pem(key(0).public_pem.as_bytes())
        .revocation_list_url(&server.url)
        .build()
        .unwrap()
}

/// A list server listing `sids`, a clock, and an app verifying against both.
async fn started(sids: &[&str]) -> (JwksServer, ManualClock, TestApp) {
    let server = list_server(sids).await;
    let clock = clock();
    let app = TestApp::start(&verifier(&server, &clock)).await;
    (server, clock, app)
}

fn token_for_session(clock: &ManualClock, sid: &str) -> String {
    token_with(key(0), clock.now(), |claims| claims["sid"] = json!(sid))
}

#[tokio::test]
async fn a_listed_session_is_refused_and_others_pass() {
    let (server, clock, app) = started(&["s-ended"]).await;

    let refused = app
        .get("/any", Some(&token_for_session(&clock, "s-ended")))
        .await;
    assert_invalid_token(refused, ENDED).await;
    let allowed = app
        .get("/any", Some(&token_for_session(&clock, "s-live")))
        .await;
    assert_eq!(allowed.status(), 200);
    let no_sid = token_with(key(0), clock.now(), |claims| {
        claims.as_object_mut().unwrap().remove("sid");
    });
    assert_eq!(app.get("/any", Some(&no_sid)).await.status(), 200);
    assert_eq!(server.hits(), 1, "one download served all three");
}

#[tokio::test]
async fn a_revocation_applies_once_the_list_is_older_than_the_interval_and_not_before() {
    let (server, clock, app) = started(&[]).await;
    let token = token_for_session(&clock, "s-1");
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);

    server.set_jwks(json!({ "sids": ["s-1"] }));
    clock.advance(INTERVAL.mul_f64(0.5));
    assert_eq!(
        app.get("/any", Some(&token)).await.status(),
        200,
        "a fresh list is not refetched"
    );
    assert_eq!(server.hits(), 1);

    clock.advance(INTERVAL.mul_f64(0.5));
    assert_invalid_token(app.get("/any", Some(&token)).await, ENDED).await;
    assert_eq!(server.hits(), 2, "the request waited for one download");
}

#[tokio::test]
async fn traffic_refreshes_the_list_ahead_of_the_interval_without_waiting() {
    let (server, clock, app) = started(&[]).await;
    let token = token_for_session(&clock, "s-1");
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);

    server.set_jwks(json!({ "sids": ["s-1"] }));
    clock.advance(INTERVAL.mul_f64(0.85));
    assert_eq!(
        app.get("/any", Some(&token)).await.status(),
        200,
        "served with the list held while the refresh runs"
    );
    server.wait_for_hits(2).await;
    assert_status_soon(&app, &token, 401).await;
    assert_eq!(server.hits(), 2);
}

/// The background refresh has been sent; waits (on the condition, bounded) for its result to
/// land and asserts the status it leads to.
async fn assert_status_soon(app: &TestApp, token: &str, status: u16) {
    for _ in 0..500 {
        if app.get("/any", Some(token)).await.status() == status {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the refreshed list never applied");
}

#[tokio::test]
async fn an_unchanged_list_is_revalidated_with_a_304() {
    let (server, clock, app) = started(&["s-ended"]).await;
    let ended = token_for_session(&clock, "s-ended");
    assert_invalid_token(app.get("/any", Some(&ended)).await, ENDED).await;

    clock.advance(INTERVAL);
    assert_invalid_token(app.get("/any", Some(&ended)).await, ENDED).await;
    assert_eq!(server.hits(), 2);
    assert_eq!(
        server.not_modified(),
        1,
        "the second download was conditional"
    );
}

#[tokio::test]
async fn during_an_outage_the_last_list_keeps_applying_and_requests_do_not_wait() {
    let (server, clock, app) = started(&["s-ended"]).await;
    let ended = token_for_session(&clock, "s-ended");
    assert_invalid_token(app.get("/any", Some(&ended)).await, ENDED).await;

    server.set_mode(Mode::Fail(StatusCode::SERVICE_UNAVAILABLE));
    clock.advance(INTERVAL);
    assert_invalid_token(app.get("/any", Some(&ended)).await, ENDED).await;
    assert_eq!(server.hits(), 2, "one failed attempt");
    for _ in 0..5 {
        assert_invalid_token(app.get("/any", Some(&ended)).await, ENDED).await;
        assert_eq!(
            app.get("/any", Some(&token_for_session(&clock, "s-live")))
                .await
                .status(),
            200
        );
    }
    assert_eq!(server.hits(), 2, "no retry before the backoff");

    server.set_mode(Mode::Serve);
    server.set_jwks(json!({ "sids": [] }));
    clock.advance(Duration::from_secs(2));
    // Past the backoff, the list is still too old: the next request waits for the retry.
    assert_eq!(app.get("/any", Some(&ended)).await.status(), 200);
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn after_a_failed_refresh_a_list_older_than_the_interval_is_never_used_once_retrying_is_allowed()
 {
    let (server, clock, app) = started(&[]).await;
    let token = token_for_session(&clock, "s-1");
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);

    // A refresh fails once (an issuer restart, say); the request that waited for it is
    // answered with the last list...
    server.set_mode(Mode::Fail(StatusCode::SERVICE_UNAVAILABLE));
    clock.advance(INTERVAL);
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);
    assert_eq!(server.hits(), 2);
    // ...then the issuer is back, a logout happens, and traffic resumes much later.
    server.set_mode(Mode::Serve);
    server.set_jwks(json!({ "sids": ["s-1"] }));
    clock.advance(Duration::from_secs(3600));
    let token = token_for_session(&clock, "s-1");
    assert_invalid_token(app.get("/any", Some(&token)).await, ENDED).await;
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_clock_stepped_backwards_makes_the_list_stale_not_fresh() {
    let (server, clock, app) = started(&[]).await;
    let token = token_for_session(&clock, "s-1");
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);
    server.set_jwks(json!({ "sids": ["s-1"] }));
    clock.set(clock.now() - Duration::from_secs(600));
    let token = token_for_session(&clock, "s-1");
    assert_invalid_token(app.get("/any", Some(&token)).await, ENDED).await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn an_unreachable_list_at_start_fails_open() {
    let server = list_server(&["s-ended"]).await;
    server.set_mode(Mode::Fail(StatusCode::INTERNAL_SERVER_ERROR));
    let clock = clock();
    let app = TestApp::start(&verifier(&server, &clock)).await;
    let response = app
        .get("/any", Some(&token_for_session(&clock, "s-ended")))
        .await;
    assert_eq!(
        response.status(),
        200,
        "the token's exp stays the hard bound"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_cold_burst_makes_one_download() {
    let server = list_server(&["s-ended"]).await;
    server.set_mode(Mode::Hang);
    let clock = clock();
    let app = TestApp::start(&verifier(&server, &clock)).await;
    let ended = token_for_session(&clock, "s-ended");
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let request = app
                .client
                .get(format!("{}/any", app.base))
                .bearer_auth(&ended);
            tokio::spawn(request.send())
        })
        .collect();
    app.wait_for_arrivals(20).await;
    server.wait_for_hits(1).await;
    server.release();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap().status(), 401);
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn prefetch_loads_the_list() {
    let server = list_server(&["s-ended"]).await;
    let clock = clock();
    let verifier = verifier(&server, &clock);
    verifier.prefetch().await.unwrap();
    assert_eq!(server.hits(), 1);
    let refused = verifier.verify(&token_for_session(&clock, "s-ended")).await;
    assert_eq!(refused.unwrap_err().to_string(), ENDED);
    assert!(verifier.verify(&token(key(0), clock.now())).await.is_ok());
    assert_eq!(server.hits(), 1);
}

#[test]
fn the_builder_refuses_a_bad_list_url_or_interval() {
    let clock = clock();
    let base = || builder(&clock).public_key_pem(key(0).public_pem.as_bytes());
    assert!(matches!(
        base().revocation_list_url("ftp://issuer/revoked").build(),
        Err(BuildError::InvalidRevocationUrl(_))
    ));
    let error = base()
        .revocation_list_url("http://issuer/revoked-sessions")
        .revocation_poll_interval(Duration::from_millis(10))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid setting revocation_poll_interval: at least 1 s"
    );
}
