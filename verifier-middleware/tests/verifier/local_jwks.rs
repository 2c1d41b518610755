//! `local_jwks`: keys this process holds itself (a token issuer protecting its own endpoints),
//! read like a downloaded JWKS: a new key is picked up on its first token, and a document with
//! no usable key leaves the layer answering 503 as a failed download would.

use std::sync::{Arc, Mutex};

use verifier_middleware::clock::Clock;
use verifier_middleware::{BuildError, Rejection, VerifierBuilder};

use crate::support::{TestApp, assert_invalid_token, builder, clock, jwks, key, token};

/// The document the verifier reads, changed by the test as an issuer's key ring would change.
#[derive(Clone)]
struct Ring(Arc<Mutex<Vec<u8>>>);

impl Ring {
    fn holding(document: &serde_json::Value) -> Self {
        Self(Arc::new(Mutex::new(document.to_string().into_bytes())))
    }

    fn publish(&self, document: &serde_json::Value) {
        *self.0.lock().unwrap() = document.to_string().into_bytes();
    }

    fn source(&self) -> impl Fn() -> Vec<u8> + Send + Sync + 'static {
        let ring = self.clone();
        move || ring.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn tokens_of_the_local_keys_are_verified_and_a_new_key_is_picked_up() {
    let clock = clock();
    let ring = Ring::holding(&jwks(&[key(0)]));
    let verifier = builder(&clock).local_jwks(ring.source()).build().unwrap();
    let app = TestApp::start(&verifier).await;

    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "user-1");

    // The ring gains a key, which signs: its first token makes the verifier read the ring again.
    ring.publish(&jwks(&[key(0), key(1)]));
    let response = app.get("/any", Some(&token(key(1), clock.now()))).await;
    assert_eq!(response.status(), 200);

    // A token of a key the ring never held is refused.
    let stranger = token(key(2), clock.now());
    assert_invalid_token(
        app.get("/any", Some(&stranger)).await,
        "the token was signed by an unknown key",
    )
    .await;
}

#[tokio::test]
async fn a_local_document_without_a_usable_key_is_a_failed_fetch() {
    let clock = clock();
    let ring = Ring::holding(&serde_json::json!({ "keys": [] }));
    let verifier = builder(&clock).local_jwks(ring.source()).build().unwrap();

    let refused = verifier.verify(&token(key(0), clock.now())).await;

    assert!(
        matches!(refused, Err(Rejection::KeysUnavailable { .. })),
        "{refused:?}"
    );
    assert!(!verifier.has_keys());
}

#[test]
fn a_local_jwks_conflicts_with_any_other_public_key_source() {
    let with_local = |builder: VerifierBuilder| builder.local_jwks(Vec::new);
    let clock = clock();
    for other in [
        with_local(builder(&clock)).jwks_url("http://localhost:3000/.well-known/jwks.json"),
        with_local(builder(&clock)).public_jwk(key(0).jwk.to_string()),
    ] {
        assert_eq!(
            other.build().unwrap_err(),
            BuildError::ConflictingKeySources
        );
    }
}
