//! The JWKS cache against a real JWKS server: fetch counts, rotation, outages, slowness.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use verifier_middleware::clock::{Clock, ManualClock};
use verifier_middleware::{Rejection, Verifier};

use crate::support::{
    JwksServer, Mode, TestApp, assert_invalid_token, builder, clock, key, token, token_with,
    wait_until_refused,
};

const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// The status of `/any` for a fresh token from key 0.
async fn fresh_token_status(app: &TestApp, clock: &ManualClock) -> u16 {
    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;
    response.status().as_u16()
}

async fn jwks_verifier(
    server: &JwksServer,
    clock: &verifier_middleware::clock::ManualClock,
) -> Verifier {
    builder(clock).jwks_url(&server.url).build().unwrap()
}

#[tokio::test]
async fn a_cold_start_burst_makes_one_fetch() {
    let server = JwksServer::start(&[key(0)]).await;
    server.set_mode(Mode::Hang);
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    let token = token(key(0), clock.now());

    let requests: Vec<_> = (0..50)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/any", app.base);
            let token = token.clone();
            tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap() })
        })
        .collect();
    // Every request is inside the layer while the one download hangs.
    app.wait_for_arrivals(50).await;
    server.wait_for_hits(1).await;
    server.release();

    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "user-1");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn steady_traffic_within_the_lifetime_makes_no_further_fetch() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;

    for _ in 0..20 {
        let response = app.get("/any", Some(&token(key(0), clock.now()))).await;
        assert_eq!(response.status(), 200);
        // 20 x 20 s = 400 s, short of the refresh point at 80 % of 10 min.
        clock.advance(Duration::from_secs(20));
    }

    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn keys_are_refreshed_in_the_background_ahead_of_expiry() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);

    clock.advance(DEFAULT_TTL.mul_f64(0.8));
    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;

    assert_eq!(response.status(), 200);
    server.wait_for_hits(2).await;
}

#[tokio::test]
async fn the_servers_max_age_sets_the_lifetime() {
    let server = JwksServer::start(&[key(0)]).await;
    server.set_cache_control("public, max-age=120");
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);

    // 80 % of 120 s is 96 s.
    clock.advance(Duration::from_secs(95));
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.wait_for_hits(2).await;
}

#[tokio::test]
async fn a_max_age_below_the_lower_bound_is_raised_to_it() {
    let server = JwksServer::start(&[key(0)]).await;
    server.set_cache_control("no-store");
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);

    // The lower bound is 1 min: no refetch before 48 s (80 %).
    clock.advance(Duration::from_secs(47));
    for _ in 0..5 {
        assert_eq!(fresh_token_status(&app, &clock).await, 200);
    }

    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_used_on_first_sight() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);

    server.set_keys(&[key(0), key(1)]);
    let response = app.get("/any", Some(&token(key(1), clock.now()))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(server.hits(), 2);
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_removed_key_stops_verifying_after_the_next_fetch() {
    let server = JwksServer::start(&[key(0), key(1)]).await;
    let clock = clock();
    let verifier = jwks_verifier(&server, &clock).await;
    verifier.prefetch().await.unwrap();

    server.set_keys(&[key(1)]);
    clock.advance(DEFAULT_TTL);
    // This request starts the refresh; the old key still verifies until it lands.
    verifier.verify(&token(key(1), clock.now())).await.unwrap();
    server.wait_for_hits(2).await;
    verifier.prefetch().await.unwrap();

    let refused = wait_until_refused(&verifier, &token(key(0), clock.now())).await;
    assert_eq!(
        refused,
        Rejection::InvalidToken(verifier_middleware::InvalidToken::UnknownKey)
    );
}

#[tokio::test]
async fn a_storm_of_unknown_kids_costs_one_fetch_per_cooldown_and_each_gets_401() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);

    let forged = |kid: String| {
        crate::support::sign(
            &json!({ "alg": "RS256", "kid": kid }),
            &crate::support::claims_at(clock.now()),
            &key(0).encoding,
            jsonwebtoken::Algorithm::RS256,
        )
    };
    for i in 0..100 {
        let response = app.get("/any", Some(&forged(format!("random-{i}")))).await;
        assert_invalid_token(response, "the token was signed by an unknown key").await;
    }
    assert_eq!(server.hits(), 2, "one refetch for the whole storm");

    clock.advance(Duration::from_secs(30));
    let response = app
        .get("/any", Some(&forged("after-cooldown".into())))
        .await;
    assert_invalid_token(response, "the token was signed by an unknown key").await;
    assert_eq!(server.hits(), 3, "one more once the cooldown has passed");
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
}

#[tokio::test]
async fn unknown_kids_fail_fast_during_the_cooldown_even_when_the_issuer_hangs() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = jwks_verifier(&server, &clock).await;
    verifier.prefetch().await.unwrap();
    let unknown = token_with(key(1), clock.now(), |_| {});
    assert!(verifier.verify(&unknown).await.is_err());
    assert_eq!(server.hits(), 2);

    // The issuer now hangs; a request for an unknown kid inside the cooldown must not wait.
    server.set_mode(Mode::Hang);
    let refused = verifier.verify(&unknown).await.unwrap_err();

    assert_eq!(
        refused,
        Rejection::InvalidToken(verifier_middleware::InvalidToken::UnknownKey)
    );
    assert_eq!(server.hits(), 2);
    server.release();
}

#[tokio::test]
async fn cached_keys_keep_verifying_while_the_issuer_is_down_and_retries_back_off() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.set_mode(Mode::Fail(StatusCode::INTERNAL_SERVER_ERROR));

    clock.advance(DEFAULT_TTL * 2);
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.wait_for_hits(2).await;
    // The failed refresh is recorded before the next request can start another.
    for _ in 0..3 {
        assert_eq!(fresh_token_status(&app, &clock).await, 200);
    }
    let hits_during_backoff = server.hits();

    clock.advance(Duration::from_secs(1));
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.wait_for_hits(hits_during_backoff + 1).await;

    assert_eq!(hits_during_backoff, 2, "no retry inside the backoff");
    server.set_mode(Mode::Serve);
    clock.advance(Duration::from_secs(2));
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
}

#[tokio::test]
async fn with_no_keys_requests_get_503_with_retry_after_and_recover_by_themselves() {
    let server = JwksServer::start(&[key(0)]).await;
    server.set_mode(Mode::Fail(StatusCode::SERVICE_UNAVAILABLE));
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;

    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Inside the backoff: answered at once, without another download.
    assert_eq!(fresh_token_status(&app, &clock).await, 503);
    assert_eq!(server.hits(), 1);

    server.set_mode(Mode::Serve);
    clock.advance(Duration::from_secs(1));
    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn cached_keys_are_dropped_after_the_max_stale_bound() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = builder(&clock)
        .jwks_url(&server.url)
        .jwks_max_stale(Duration::from_secs(3600))
        .build()
        .unwrap();
    verifier.prefetch().await.unwrap();
    server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    clock.advance(DEFAULT_TTL + Duration::from_secs(3599));
    assert!(verifier.has_keys());
    clock.advance(Duration::from_secs(1));

    assert!(!verifier.has_keys());
    let refused = verifier
        .verify(&token(key(0), clock.now()))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Rejection::KeysUnavailable { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_slow_issuer_does_not_delay_requests_whose_key_is_cached() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.set_mode(Mode::Hang);

    clock.advance(DEFAULT_TTL);
    assert_eq!(fresh_token_status(&app, &clock).await, 200);
    server.wait_for_hits(2).await;

    // The refresh is hanging at the server; requests with cached keys still get through.
    for _ in 0..5 {
        assert_eq!(fresh_token_status(&app, &clock).await, 200);
    }
    assert_eq!(server.hits(), 2);
    server.release();
}

#[tokio::test]
async fn one_bad_key_in_the_jwks_does_not_spoil_the_others() {
    let server = JwksServer::start(&[]).await;
    let mut small = crate::support::generate_key("small", 1024).jwk;
    small["kid"] = json!("small");
    server.set_jwks(json!({ "keys": [
        { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA" },
        { "kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB" },
        small,
        key(0).jwk,
    ]}));
    let clock = clock();
    let app = TestApp::start(&jwks_verifier(&server, &clock).await).await;

    assert_eq!(fresh_token_status(&app, &clock).await, 200);
}

#[tokio::test]
async fn a_jwks_over_the_size_cap_is_not_read() {
    let server = JwksServer::start(&[]).await;
    server.set_jwks(json!({ "keys": [key(0).jwk], "padding": "x".repeat(300 * 1024) }));
    let clock = clock();
    let verifier = jwks_verifier(&server, &clock).await;

    let refused = verifier.prefetch().await.unwrap_err();

    assert!(matches!(refused, Rejection::KeysUnavailable { .. }));
}

#[tokio::test]
async fn a_response_that_is_not_a_jwks_leaves_no_keys() {
    let server = JwksServer::start(&[]).await;
    server.set_jwks(json!({ "keys": [] }));
    let clock = clock();
    let verifier = jwks_verifier(&server, &clock).await;

    assert!(verifier.prefetch().await.is_err());
    assert!(!verifier.has_keys());
}

#[tokio::test]
async fn prefetch_loads_the_keys_so_the_first_request_does_not_wait() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = jwks_verifier(&server, &clock).await;
    assert!(!verifier.has_keys());

    verifier.prefetch().await.unwrap();

    assert!(verifier.has_keys());
    assert_eq!(server.hits(), 1);
    server.set_mode(Mode::Fail(StatusCode::INTERNAL_SERVER_ERROR));
    verifier.verify(&token(key(0), clock.now())).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn an_issuer_that_does_not_answer_at_all_is_503() {
    // A port with nothing listening.
    let url = format!("http://127.0.0.1:{}/jwks.json", test_support::free_port());
    let clock = clock();
    let verifier = builder(&clock).jwks_url(url).build().unwrap();

    let refused = verifier
        .verify(&token(key(0), clock.now()))
        .await
        .unwrap_err();

    assert!(matches!(refused, Rejection::KeysUnavailable { .. }));
}
