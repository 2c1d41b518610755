//! The verified-token cache (on by default) never vouches for a token the full check would
//! refuse now: expiry, a key that left the JWKS, keys discarded after an outage.

use std::time::Duration;

use axum::http::StatusCode;
use verifier_middleware::clock::Clock;
use verifier_middleware::{InvalidToken, Rejection, Verifier};

use crate::support::{
    JwksServer, Mode, TestApp, assert_invalid_token, builder, clock, key, token, wait_until_refused,
};

const DEFAULT_TTL: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(key(0).public_pem.as_bytes())
        .build()
        .unwrap();
    let app = TestApp::start(&verifier).await;
    // Issued with a 900 s lifetime; the leeway is 60 s.
    let token = token(key(0), clock.now());
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);

    clock.advance(Duration::from_secs(959));
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);
    clock.advance(Duration::from_secs(1));

    assert_invalid_token(app.get("/any", Some(&token)).await, "the token has expired").await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves_the_jwks() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = builder(&clock).jwks_url(&server.url).build().unwrap();
    verifier.prefetch().await.unwrap();
    let old = token(key(0), clock.now());
    verifier.verify(&old).await.unwrap();
    verifier.verify(&old).await.unwrap();

    // The issuer rotates: key 0 is gone. A token from key 1 makes the verifier refetch.
    server.set_keys(&[key(1)]);
    verifier.verify(&token(key(1), clock.now())).await.unwrap();
    assert_eq!(server.hits(), 2);

    let refused = verifier.verify(&old).await.unwrap_err();
    assert_eq!(refused, Rejection::InvalidToken(InvalidToken::UnknownKey));
}

#[tokio::test]
async fn traffic_answered_from_the_cache_still_refreshes_the_keys() {
    let server = JwksServer::start(&[key(0), key(1)]).await;
    let clock = clock();
    let verifier = builder(&clock).jwks_url(&server.url).build().unwrap();
    verifier.prefetch().await.unwrap();
    let withdrawn = token(key(0), clock.now());
    verifier.verify(&withdrawn).await.unwrap();

    // Key 0 is withdrawn (compromised); only the same cached token keeps arriving.
    server.set_keys(&[key(1)]);
    clock.advance(DEFAULT_TTL);
    verifier.verify(&withdrawn).await.unwrap();
    server.wait_for_hits(2).await;
    verifier.prefetch().await.unwrap();

    let refused = wait_until_refused(&verifier, &withdrawn).await;
    assert_eq!(refused, Rejection::InvalidToken(InvalidToken::UnknownKey));
}

#[tokio::test]
async fn a_cached_token_is_not_accepted_once_the_keys_are_discarded() {
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = builder(&clock)
        .jwks_url(&server.url)
        .jwks_max_stale(Duration::from_secs(600))
        .build()
        .unwrap();
    verifier.prefetch().await.unwrap();
    // Long enough to outlive the keys: exp is 900 s after issue.
    let cached = token(key(0), clock.now());
    verifier.verify(&cached).await.unwrap();
    server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    clock.advance(DEFAULT_TTL + Duration::from_secs(600));

    assert!(!verifier.has_keys());
    let refused = verifier.verify(&cached).await.unwrap_err();
    assert!(
        matches!(refused, Rejection::KeysUnavailable { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn with_the_cache_disabled_tokens_are_still_verified_every_time() {
    let clock = clock();
    let verifier = builder(&clock)
        .public_key_pem(key(0).public_pem.as_bytes())
        .disable_token_cache()
        .build()
        .unwrap();
    let token = token(key(0), clock.now());

    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    clock.advance(Duration::from_secs(960));

    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        Rejection::InvalidToken(InvalidToken::Expired)
    );
}

#[test]
fn debug_says_whether_the_cache_is_on() {
    let clock = clock();
    let on = builder(&clock).public_key_pem(key(0).public_pem.as_bytes());
    let off = builder(&clock)
        .public_key_pem(key(0).public_pem.as_bytes())
        .disable_token_cache();

    let text = |verifier: Verifier| format!("{verifier:?}");

    assert!(text(on.build().unwrap()).contains("token_cache: true"));
    assert!(text(off.build().unwrap()).contains("token_cache: false"));
}
