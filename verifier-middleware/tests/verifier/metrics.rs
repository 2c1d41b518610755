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
use verifier_middleware::{Rejection, VerifiedClaims, Verifier, VerifierBuilder};

use crate::support::{
    JwksServer, Mode, TestApp, TestKey, builder, claims_at, clock, key, sign, token, token_with,
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

/// Asserts each `(first, second, count)`: the counter `name` with its two labels `keys` set to
/// `first` and `second` counted `count`; and that they are all it counted: its total over every
/// label is their sum.
fn assert_counts(readings: &Readings, name: &str, keys: [&str; 2], expected: &[(&str, &str, u64)]) {
    for &(first, second, count) in expected {
        let labels = [(keys[0], first), (keys[1], second)];
        assert_eq!(readings.counter(name, &labels), count, "{name} {labels:?}");
    }
    let sum: u64 = expected.iter().map(|&(_, _, count)| count).sum();
    assert_eq!(readings.total(name), sum);
}

/// [`assert_counts`] for the verifications, each given as `(result, reason, count)`.
fn assert_verifications(readings: &Readings, expected: &[(&str, &str, u64)]) {
    assert_counts(readings, VERIFICATIONS_TOTAL, [RESULT, REASON], expected);
}

/// [`assert_counts`] for the downloads, each given as `(source, result, count)`.
fn assert_fetches(readings: &Readings, expected: &[(&str, &str, u64)]) {
    assert_counts(readings, FETCHES_TOTAL, [SOURCE, RESULT], expected);
}

/// When `source` was last downloaded successfully, by the verifier's clock; `None` when never.
fn last_success(readings: &Readings, source: &str) -> Option<f64> {
    readings.gauge(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, &[(SOURCE, source)])
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
        Self::start_with(clock(), |builder| builder).await
    }

    /// Like [`Fixture::start`], but with `clock` and a verifier that `configure` adjusts.
    async fn start_with(
        clock: ManualClock,
        configure: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
    ) -> Self {
        let metrics = Recorded::install();
        let server = JwksServer::start(&[key(0)]).await;
        let verifier = configure(builder(&clock).jwks_url(&server.url))
            .build()
            .unwrap();
        Self {
            metrics,
            server,
            clock,
            verifier,
        }
    }

    /// Verifies a token `key` signs now, by the fixture's clock.
    async fn verify_fresh(&self, key: &TestKey) -> Result<VerifiedClaims, Rejection> {
        self.verifier.verify(&token(key, self.clock.now())).await
    }

    /// Verifies one fresh key-0 token twice, then reads the metrics.
    async fn verify_one_token_twice(&self) -> Readings {
        let token = token(key(0), self.clock.now());
        self.verifier.verify(&token).await.unwrap();
        self.verifier.verify(&token).await.unwrap();
        self.metrics.read()
    }
}

#[tokio::test]
async fn an_accepted_token_is_counted_as_accepted_without_a_reason() {
    let fixture = Fixture::start().await;

    fixture.verify_fresh(key(0)).await.unwrap();

    let readings = fixture.metrics.read();
    assert_verifications(&readings, &[(ACCEPTED, reason::NONE, 1)]);
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
    assert_verifications(
        &readings,
        &[
            (REJECTED, reason::EXPIRED, 1),
            (REJECTED, reason::BAD_SIGNATURE, 1),
            (REJECTED, reason::UNKNOWN_KEY, 1),
        ],
    );
}

#[tokio::test]
async fn a_token_checked_without_usable_keys_is_counted_as_unavailable() {
    let fixture = Fixture::start().await;
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    let refused = fixture.verify_fresh(key(0)).await.unwrap_err();

    assert!(matches!(refused, Rejection::KeysUnavailable { .. }));
    let readings = fixture.metrics.read();
    assert_verifications(&readings, &[(UNAVAILABLE, reason::NONE, 1)]);
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
    assert_verifications(&readings, &[(ACCEPTED, reason::NONE, 2)]);
    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 2);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_counted_as_rejected() {
    let fixture = Fixture::start().await;
    let app = TestApp::start(&fixture.verifier).await;

    let response = app.get("/any", Some("not one token")).await;

    assert_eq!(response.status(), 401);
    let readings = fixture.metrics.read();
    assert_verifications(&readings, &[(REJECTED, reason::MALFORMED_AUTHORIZATION, 1)]);
}

#[tokio::test]
async fn a_first_verification_misses_the_token_cache_and_a_repeat_hits_it() {
    let fixture = Fixture::start().await;
    fixture.verifier.prefetch().await.unwrap();

    let readings = fixture.verify_one_token_twice().await;

    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 1);
    assert_eq!(readings.counter(TOKEN_CACHE_HITS_TOTAL, &[]), 1);
}

#[tokio::test]
async fn a_disabled_token_cache_counts_neither_hits_nor_misses() {
    let fixture = Fixture::start_with(clock(), VerifierBuilder::disable_token_cache).await;

    let readings = fixture.verify_one_token_twice().await;

    assert_eq!(readings.counter(TOKEN_CACHE_MISSES_TOTAL, &[]), 0);
    assert_eq!(readings.counter(TOKEN_CACHE_HITS_TOTAL, &[]), 0);
    assert_eq!(verifications(&readings, ACCEPTED, reason::NONE), 2);
}

#[tokio::test]
async fn a_jwks_download_is_counted_and_dated_by_the_verifiers_clock() {
    // Far from the system's time, so the value can only come from this clock.
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    let fixture = Fixture::start_with(clock, |builder| builder).await;

    fixture.verifier.prefetch().await.unwrap();

    let readings = fixture.metrics.read();
    assert_fetches(&readings, &[(JWKS, OK, 1)]);
    assert_eq!(last_success(&readings, JWKS), Some(2_000_000_000.0));
}

#[tokio::test]
async fn a_failed_jwks_download_is_counted_as_an_error_and_dates_nothing() {
    let fixture = Fixture::start().await;
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));

    fixture.verifier.prefetch().await.unwrap_err();

    let readings = fixture.metrics.read();
    assert_fetches(&readings, &[(JWKS, ERROR, 1)]);
    assert_eq!(last_success(&readings, JWKS), None);
}

#[tokio::test]
async fn a_failed_refetch_leaves_the_time_of_the_last_success() {
    let fixture = Fixture::start().await;
    fixture.verifier.prefetch().await.unwrap();
    let loaded_at = unix_seconds(fixture.clock.now());
    fixture.server.set_mode(Mode::Fail(StatusCode::BAD_GATEWAY));
    fixture.clock.advance(Duration::from_secs(60));

    // An unknown kid makes the fixture.verifier refetch, and wait for it.
    fixture.verify_fresh(key(1)).await.unwrap_err();

    let readings = fixture.metrics.read();
    assert_eq!(fetches(&readings, JWKS, OK), 1);
    assert_eq!(fetches(&readings, JWKS, ERROR), 1);
    assert_eq!(last_success(&readings, JWKS), Some(loaded_at as f64));
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
    fixture.verify_fresh(key(0)).await.unwrap();

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
        .public_key_pem(key(0).public_pem.as_bytes())
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
    assert_fetches(
        &readings,
        &[(REVOCATION, OK, 1), (REVOCATION, NOT_MODIFIED, 1)],
    );
    assert_eq!(
        last_success(&readings, REVOCATION),
        Some(refreshed_at as f64)
    );
}
