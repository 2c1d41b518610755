//! The metrics, read from a recorder installed for the test's thread only: tests run in
//! parallel, each `#[tokio::test]` on its own current-thread runtime, which also runs the JWKS
//! cache's downloads and the app's server, so no test sees another's metrics.

use std::time::{Duration, UNIX_EPOCH};

use ::metrics::{LocalRecorderGuard, set_default_local_recorder};
use axum::http::StatusCode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use verifier_middleware::clock::{Clock, ManualClock, unix_seconds};
use verifier_middleware::metrics::{
    ACCEPTED, ERROR, FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, FETCHES_TOTAL, JWKS,
    JWKS_STALE_KEYS_SERVED_TOTAL, NOT_MODIFIED, OK, REASON, REJECTED, RESULT, REVOCATION, SOURCE,
    TOKEN_CACHE_HITS_TOTAL, TOKEN_CACHE_MISSES_TOTAL, UNAVAILABLE, VERIFICATIONS_TOTAL, reason,
};
use verifier_middleware::{Rejection, Verifier};

use crate::support::{
    JwksServer, Mode, TestApp, builder, claims_at, clock, key, sign, token, token_with,
};

const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// One metric as the recorder held it.
struct Reading {
    name: String,
    /// Sorted, so that the order they were given in does not matter.
    labels: Vec<(String, String)>,
    value: DebugValue,
}

/// What the recorder held when read. Reading resets its counters, so each test reads once,
/// after acting.
struct Readings(Vec<Reading>);

impl Readings {
    fn take(recorder: &DebuggingRecorder) -> Self {
        let snapshot = recorder.snapshotter().snapshot().into_vec();
        Self(
            snapshot
                .into_iter()
                .map(|(key, _, _, value)| Reading {
                    name: key.key().name().to_owned(),
                    labels: sorted(key.key().labels().map(|l| (l.key(), l.value()))),
                    value,
                })
                .collect(),
        )
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let labels = sorted(labels.iter().copied());
        self.0
            .iter()
            .find(|reading| reading.name == name && reading.labels == labels)
            .map(|reading| &reading.value)
    }

    /// The counter with exactly these labels; 0 when it was never incremented.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(name, labels) {
            None => 0,
            Some(DebugValue::Counter(count)) => *count,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// The counter summed over all its labels.
    fn total(&self, name: &str) -> u64 {
        self.0
            .iter()
            .filter(|reading| reading.name == name)
            .map(|reading| match reading.value {
                DebugValue::Counter(count) => count,
                ref other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// The gauge with exactly these labels; `None` when it was never set.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels)? {
            DebugValue::Gauge(value) => Some(value.0),
            other => panic!("{name} is not a gauge: {other:?}"),
        }
    }
}

fn sorted<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut labels: Vec<_> = labels
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    labels.sort();
    labels
}

fn verifications(readings: &Readings, result: &str, reason: &str) -> u64 {
    readings.counter(VERIFICATIONS_TOTAL, &[(RESULT, result), (REASON, reason)])
}

fn fetches(readings: &Readings, source: &str, result: &str) -> u64 {
    readings.counter(FETCHES_TOTAL, &[(SOURCE, source), (RESULT, result)])
}

/// A recorder installed for the test's thread while this lives.
struct Recorded {
    recorder: &'static DebuggingRecorder,
    _installed: LocalRecorderGuard<'static>,
}

impl Recorded {
    fn install() -> Self {
        // Leaked so the guard may borrow it for as long as the test runs.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        Self {
            recorder,
            _installed: set_default_local_recorder(recorder),
        }
    }

    fn read(&self) -> Readings {
        Readings::take(self.recorder)
    }
}

/// A recorder, an issuer's JWKS serving key 0, a clock and a verifier of that JWKS.
struct Fixture {
    metrics: Recorded,
    server: JwksServer,
    clock: ManualClock,
    verifier: Verifier,
}

impl Fixture {
    async fn start() -> Self {
        let metrics = Recorded::install();
        let server = JwksServer::start(&[key(0)]).await;
        let clock = clock();
        let verifier = builder(&clock).jwks_url(&server.url).build().unwrap();
        Self {
            metrics,
            server,
            clock,
            verifier,
        }
    }
}

#[tokio::test]
async fn an_accepted_token_is_counted_as_accepted_without_a_reason() {
    let fixture = Fixture::start().await;

    fixture
        .verifier
        .verify(&token(key(0), fixture.clock.now()))
        .await
        .unwrap();

    let readings = fixture.metrics.read();
    assert_eq!(verifications(&readings, ACCEPTED, reason::NONE), 1);
    assert_eq!(readings.total(VERIFICATIONS_TOTAL), 1);
}

#[tokio::test]
async fn each_rejected_token_is_counted_under_its_reason() {
    let fixture = Fixture::start().await;
    let expired = token(key(0), fixture.clock.now() - Duration::from_secs(1000));
    // Claims to be from key 0, signed with key 1.
    let forged = sign(
        &json!({ "alg": "RS256", "kid": key(0).kid }),
        &claims_at(fixture.clock.now()),
        &key(1).encoding,
        jsonwebtoken::Algorithm::RS256,
    );
    let unknown = token(key(1), fixture.clock.now());

    for refused in [expired, forged, unknown] {
        fixture.verifier.verify(&refused).await.unwrap_err();
    }

    let readings = fixture.metrics.read();
    assert_eq!(verifications(&readings, REJECTED, reason::EXPIRED), 1);
    assert_eq!(verifications(&readings, REJECTED, reason::BAD_SIGNATURE), 1);
    assert_eq!(verifications(&readings, REJECTED, reason::UNKNOWN_KEY), 1);
    assert_eq!(readings.total(VERIFICATIONS_TOTAL), 3);
}

#[tokio::test]
async fn a_token_checked_without_usable_keys_is_counted_as_unavailable() {
    let fixture = Fixture::start().await;
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    let refused = fixture
        .verifier
        .verify(&token(key(0), fixture.clock.now()))
        .await
        .unwrap_err();

    assert!(matches!(refused, Rejection::KeysUnavailable { .. }));
    let readings = fixture.metrics.read();
    assert_eq!(verifications(&readings, UNAVAILABLE, reason::NONE), 1);
    assert_eq!(readings.total(VERIFICATIONS_TOTAL), 1);
}

#[tokio::test]
async fn a_request_through_the_layer_is_counted_once() {
    let fixture = Fixture::start().await;
    let app = TestApp::start(&fixture.verifier).await;

    // The first waits for the keys; the second, another token, finds them.
    let first = app
        .get("/any", Some(&token(key(0), fixture.clock.now())))
        .await;
    fixture.clock.advance(Duration::from_secs(1));
    let second = app
        .get("/any", Some(&token(key(0), fixture.clock.now())))
        .await;

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let readings = fixture.metrics.read();
    assert_eq!(verifications(&readings, ACCEPTED, reason::NONE), 2);
    assert_eq!(readings.total(VERIFICATIONS_TOTAL), 2);
    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 2);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_counted_as_rejected() {
    let fixture = Fixture::start().await;
    let app = TestApp::start(&fixture.verifier).await;

    let response = app.get("/any", Some("not one token")).await;

    assert_eq!(response.status(), 401);
    let readings = fixture.metrics.read();
    assert_eq!(
        verifications(&readings, REJECTED, reason::MALFORMED_AUTHORIZATION),
        1
    );
    assert_eq!(readings.total(VERIFICATIONS_TOTAL), 1);
}

#[tokio::test]
async fn a_first_verification_misses_the_token_cache_and_a_repeat_hits_it() {
    let fixture = Fixture::start().await;
    fixture.verifier.prefetch().await.unwrap();
    let token = token(key(0), fixture.clock.now());

    fixture.verifier.verify(&token).await.unwrap();
    fixture.verifier.verify(&token).await.unwrap();

    let readings = fixture.metrics.read();
    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 1);
    assert_eq!(readings.counter(TOKEN_CACHE_HITS_TOTAL, &[]), 1);
}

#[tokio::test]
async fn a_disabled_token_cache_counts_neither_hits_nor_misses() {
    let metrics = Recorded::install();
    let server = JwksServer::start(&[key(0)]).await;
    let clock = clock();
    let verifier = builder(&clock)
        .jwks_url(&server.url)
        .disable_token_cache()
        .build()
        .unwrap();
    let token = token(key(0), clock.now());

    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();

    let readings = metrics.read();
    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 0);
    assert_eq!(readings.counter(TOKEN_CACHE_HITS_TOTAL, &[]), 0);
    assert_eq!(verifications(&readings, ACCEPTED, reason::NONE), 2);
}

#[tokio::test]
async fn a_jwks_download_is_counted_and_dated_by_the_verifiers_clock() {
    let metrics = Recorded::install();
    let server = JwksServer::start(&[key(0)]).await;
    // Far from the system's time, so the value can only come from this clock.
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    let verifier = builder(&clock).jwks_url(&server.url).build().unwrap();

    verifier.prefetch().await.unwrap();

    let readings = metrics.read();
    assert_eq!(fetches(&readings, JWKS, OK), 1);
    assert_eq!(readings.total(FETCHES_TOTAL), 1);
    assert_eq!(
        readings.gauge(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, &[(SOURCE, JWKS)]),
        Some(2_000_000_000.0)
    );
}

#[tokio::test]
async fn a_failed_jwks_download_is_counted_as_an_error_and_dates_nothing() {
    let fixture = Fixture::start().await;
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    fixture.verifier.prefetch().await.unwrap_err();

    let readings = fixture.metrics.read();
    assert_eq!(fetches(&readings, JWKS, ERROR), 1);
    assert_eq!(readings.total(FETCHES_TOTAL), 1);
    assert_eq!(
        readings.gauge(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, &[(SOURCE, JWKS)]),
        None
    );
}

#[tokio::test]
async fn a_failed_refetch_leaves_the_time_of_the_last_success() {
    let fixture = Fixture::start().await;
    fixture.verifier.prefetch().await.unwrap();
    let loaded_at = unix_seconds(fixture.clock.now());
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));
    fixture.clock.advance(Duration::from_secs(60));

    // An unknown kid makes the fixture.verifier refetch, and wait for it.
    fixture
        .verifier
        .verify(&token(key(1), fixture.clock.now()))
        .await
        .unwrap_err();

    let readings = fixture.metrics.read();
    assert_eq!(fetches(&readings, JWKS, OK), 1);
    assert_eq!(fetches(&readings, JWKS, ERROR), 1);
    assert_eq!(
        readings.gauge(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, &[(SOURCE, JWKS)]),
        Some(loaded_at as f64)
    );
}

#[tokio::test]
async fn keys_served_past_their_lifetime_while_the_issuer_fails_are_counted_as_stale() {
    let fixture = Fixture::start().await;
    fixture.verifier.prefetch().await.unwrap();
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));
    let cached = token(key(0), fixture.clock.now());
    fixture.clock.advance(DEFAULT_TTL - Duration::from_secs(1));
    // Within the lifetime (its refresh fails in the background): not stale.
    fixture.verifier.verify(&cached).await.unwrap();

    fixture.clock.advance(Duration::from_secs(1));
    // Past it: from the token cache, then a token verified in full.
    fixture.verifier.verify(&cached).await.unwrap();
    fixture
        .verifier
        .verify(&token(key(0), fixture.clock.now()))
        .await
        .unwrap();

    let readings = fixture.metrics.read();
    assert_eq!(readings.counter(JWKS_STALE_KEYS_SERVED_TOTAL, &[]), 2);
    assert_eq!(readings.counter(TOKEN_CACHE_HITS_TOTAL, &[]), 1);
}

#[tokio::test]
async fn revocation_list_downloads_are_counted_under_their_own_source() {
    let metrics = Recorded::install();
    let server = JwksServer::start(&[]).await;
    server.set_jwks(json!({ "sids": ["s-ended"] }));
    let clock = clock();
    let verifier = builder(&clock)
        .rsa_public_key_pem(key(0).public_pem.as_bytes())
        .revocation_list_url(&server.url)
        .build()
        .unwrap();
    verifier.prefetch().await.unwrap();
    clock.advance(Duration::from_secs(30));
    let refreshed_at = unix_seconds(clock.now());

    // The list is now as old as the poll interval: this waits for a conditional download.
    let live = token_with(key(0), clock.now(), |claims| {
        claims["sid"] = json!("s-live")
    });
    verifier.verify(&live).await.unwrap();

    assert_eq!(server.not_modified(), 1);
    let readings = metrics.read();
    assert_eq!(fetches(&readings, REVOCATION, OK), 1);
    assert_eq!(fetches(&readings, REVOCATION, NOT_MODIFIED), 1);
    assert_eq!(readings.total(FETCHES_TOTAL), 2);
    assert_eq!(
        readings.gauge(
            FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS,
            &[(SOURCE, REVOCATION)]
        ),
        Some(refreshed_at as f64)
    );
}
