//! Key rotation end to end: a service route behind the verifier layer and a role guard (as
//! `user-service`'s `POST /book`), on a socket of its own, verifying tokens of a real issuer
//! while its key ring rotates. Issuer and service share one manual clock, so an hour of rotation
//! takes a few seconds. The service is built from `verifier-middleware` alone: the issuer's
//! tests do not depend on the example services (whose own suites run the real `user-service`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use issuer::clock::Clock;
use issuer::tokens::{AccessClaims, Subject};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use test_support::wait::wait_until;
use tokio::task::JoinHandle;
use verifier_middleware::{RequireRoleLayer, Verifier};

use crate::helpers::{ISSUER, TestApp, claims_of, kid_of};
use crate::keys::{KeysDir, LEAD, TTL, wait_for_jwks};

/// What the JWKS max-age is (the default), and so how far the clock moves per step: each step
/// makes the service's cached keys due for a refresh.
const STEP: Duration = Duration::from_secs(300);

/// A service verifying with the issuer's JWKS on the issuer's clock, whose `POST /book` needs
/// the role `user`; returns that URL.
async fn user_service(app: &TestApp, unknown_kid_cooldown: Duration) -> String {
    let verifier = Verifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", app.address))
        .issuer(ISSUER)
        .audience("api")
        .clock(app.clock.clone())
        .jwks_unknown_kid_cooldown(unknown_kid_cooldown)
        .build()
        .unwrap();
    verifier.prefetch().await.unwrap();
    let router = axum::Router::new()
        .route(
            "/book",
            axum::routing::post(|| async { "booked" }).layer(RequireRoleLayer::any_of(["user"])),
        )
        .layer(verifier.layer());
    format!("{}/book", test_support::serve(router).await)
}

async fn book(app: &TestApp, url: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One fresh login and one booking with its token.
#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    kid: String,
    token: String,
}

/// Clients logging in afresh and booking, one after the other, until stopped.
struct Traffic {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Traffic {
    fn start(app: &TestApp, url: String) -> Self {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (client, address) = (app.client.clone(), app.address.clone());
        let task = tokio::spawn({
            let (outcomes, stop) = (Arc::clone(&outcomes), Arc::clone(&stop));
            async move {
                while !stop.load(Ordering::Acquire) {
                    let login = client
                        .post(format!("{address}/login"))
                        .json(&serde_json::json!({
                            "email": "alice@example.com",
                            "password": crate::helpers::PASSWORD,
                        }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(login.status(), 200, "login during the rotation");
                    let body: Value = login.json().await.unwrap();
                    let token = body["access_token"].as_str().unwrap().to_owned();
                    let response = client.post(&url).bearer_auth(&token).send().await.unwrap();
                    let outcome = Outcome {
                        status: response.status().as_u16(),
                        kid: kid_of(&token),
                        token,
                    };
                    outcomes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(outcome);
                }
            }
        });
        Self {
            outcomes,
            stop,
            task,
        }
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `count` more requests have completed.
    async fn wait_for_more(&self, count: usize) {
        let target = self.outcomes().len() + count;
        wait_until("more traffic", || async { self.outcomes().len() >= target }).await;
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Release);
        let outcomes = Arc::clone(&self.outcomes);
        self.task.await.expect("the traffic never failed to log in");
        let outcomes = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        outcomes.clone()
    }
}

/// Moves the clock on by `by` (at most the access-token lifetime, so no token in flight
/// expires), then lets traffic run on the new time.
async fn step(app: &TestApp, traffic: &Traffic, by: Duration) {
    app.clock.advance(by);
    traffic.wait_for_more(2).await;
}

/// A token like the issuer's, signed by the test with the ring key `kid` (read from its file).
fn token_signed_by(keys: &KeysDir, kid: &str, clock: &dyn Clock) -> String {
    let pem = std::fs::read(keys.dir().join(format!("{kid}.pem"))).unwrap();
    let subject = Subject {
        user_id: uuid::Uuid::now_v7(),
        session_id: uuid::Uuid::now_v7(),
        email: Some("alice@example.com"),
        phone_number: None,
        role: "user",
    };
    let claims = AccessClaims::new(&subject, ISSUER, "api", clock.now(), TTL);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn a_service_answers_every_request_while_the_key_rotates_next_current_retired() {
    let keys = KeysDir::new();
    let app = keys.spawn_app().await;
    app.register("alice@example.com", None).await;
    // No unknown-kid refetch for the whole test: once the cooldown slot is used up, the
    // service can only learn keys from its regular refreshes, so passing proves that the new
    // key was published before it signed, not rescued by a refetch.
    let url = user_service(&app, Duration::from_secs(30 * 86_400)).await;
    let made_up_kid = format!(
        "{}.e30.AAAA",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"made-up"}"#)
    );
    assert_eq!(book(&app, &url, &made_up_kid).await.0, 401);
    let traffic = Traffic::start(&app, url.clone());
    traffic.wait_for_more(2).await;
    let a = keys.first.clone();

    let b = keys.rotate(&app.clock).kid;
    wait_for_jwks(&app, &[&a, &b]).await;
    // Published, and the service's cached JWKS does not have it yet: signing with it now
    // would fail these requests.
    traffic.wait_for_more(3).await;
    step(&app, &traffic, STEP).await;
    // The service refreshed ahead of expiry and holds the next key before it ever signs.
    wait_until("the service holds the next key", || async {
        let early = token_signed_by(&keys, &b, &app.clock);
        book(&app, &url, &early).await.0 == 200
    })
    .await;
    for _ in 1..LEAD.as_secs() / STEP.as_secs() {
        step(&app, &traffic, STEP).await;
    }
    wait_until("a login signed by the new key", || async {
        traffic.outcomes().iter().any(|outcome| outcome.kid == b)
    })
    .await;
    traffic.wait_for_more(3).await;
    let failed: Vec<Outcome> = traffic
        .outcomes()
        .into_iter()
        .filter(|outcome| outcome.status != 200)
        .collect();
    assert!(failed.is_empty(), "failed during the rotation: {failed:?}");

    // The last token of the retired key keeps working until it expires.
    let last_of_a = traffic
        .outcomes()
        .into_iter()
        .rev()
        .find(|outcome| outcome.kid == a)
        .expect("tokens signed by the first key")
        .token;
    let exp = claims_of(&last_of_a)["exp"].as_i64().unwrap();
    loop {
        let now = issuer::clock::unix_seconds(app.clock.now());
        if now >= exp - 1 {
            break;
        }
        let by = u64::try_from(exp - 1 - now).unwrap().min(STEP.as_secs());
        step(&app, &traffic, Duration::from_secs(by)).await;
    }
    assert_eq!(book(&app, &url, &last_of_a).await.0, 200);
    let outcomes = traffic.stop().await;

    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 200).collect();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let signed_by_b = outcomes.iter().filter(|o| o.kid == b).count();
    assert!(
        signed_by_b >= 3 && signed_by_b < outcomes.len(),
        "{outcomes:?}"
    );
    app.clock.advance(Duration::from_secs(62));
    let (status, body) = book(&app, &url, &last_of_a).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_description"], "the token has expired");
}

#[tokio::test]
async fn a_compromised_key_unpublished_by_hand_stops_verifying_once_the_service_refreshes() {
    let keys = KeysDir::new();
    let app = keys.spawn_app().await;
    app.register("alice@example.com", None).await;
    let url = user_service(&app, Duration::from_secs(30)).await;
    let a = keys.first.clone();
    let stolen = app.access_token("alice@example.com").await;
    assert_eq!(book(&app, &url, &stolen).await.0, 200);

    // The emergency runbook: a new key signing at once, the old one withdrawn.
    let b = issuer::keys::rotation::rotate(
        keys.dir(),
        issuer::keys::rotation::RotationTiming {
            now: issuer::clock::unix_seconds(app.clock.now()),
            publish_lead: LEAD,
            token_ttl: TTL,
        },
        true,
    )
    .unwrap()
    .kid;
    keys.retire(&app.clock, &a, true);
    app.clock.advance(Duration::from_secs(1));
    wait_for_jwks(&app, &[&b]).await;

    // The service still holds the old key until its cached JWKS is due for a refresh ...
    assert_eq!(book(&app, &url, &stolen).await.0, 200);
    app.clock.advance(STEP);
    // ... and refuses the stolen token, though unexpired, once it has refreshed.
    wait_until("the service drops the withdrawn key", || async {
        book(&app, &url, &stolen).await.0 == 401
    })
    .await;
    let (_, body) = book(&app, &url, &stolen).await;
    assert_eq!(
        body["error_description"],
        "the token was signed by an unknown key"
    );
    // New tokens work.
    let fresh = app.access_token("alice@example.com").await;
    assert_eq!(kid_of(&fresh), b);
    assert_eq!(book(&app, &url, &fresh).await.0, 200);
    assert!(
        claims_of(&stolen)["exp"].as_i64().unwrap() > issuer::clock::unix_seconds(app.clock.now())
    );
}
