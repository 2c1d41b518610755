//! OpenID discovery against a local OpenID provider stand-in (axum, port 0) that serves a
//! discovery document and a JWKS with RSA, P-256 and Ed25519 keys.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use verifier_middleware::clock::{Clock, ManualClock};
use verifier_middleware::{BuildError, InvalidToken, Rejection, Setting, Verifier};

use crate::support::{AUDIENCE, TestKey, claims_at, clock, curve_key, key, sign};

struct ProviderState {
    /// `{base}/realms/shop`, known once the server listens.
    real_issuer: String,
    up: bool,
    /// The `issuer` the document names; `None`: the real one.
    issuer: Option<String>,
    /// The `jwks_uri` the document names; `None`: the real one.
    jwks_uri: Option<String>,
    jwks: Value,
    jwks_hits: usize,
}

type Shared = Arc<Mutex<ProviderState>>;

/// An OpenID provider at `{base}/realms/shop`.
struct Provider {
    issuer: String,
    state: Shared,
}

async fn document(State(state): State<Shared>) -> Response {
    let state = state.lock().unwrap();
    if !state.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let real = &state.real_issuer;
    axum::Json(json!({
        "issuer": state.issuer.clone().unwrap_or_else(|| real.clone()),
        "jwks_uri": state.jwks_uri.clone().unwrap_or_else(|| format!("{real}/certs")),
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    }))
    .into_response()
}

async fn certs(State(state): State<Shared>) -> axum::Json<Value> {
    let mut state = state.lock().unwrap();
    state.jwks_hits += 1;
    axum::Json(state.jwks.clone())
}

impl Provider {
    async fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(Mutex::new(ProviderState {
            real_issuer: String::new(),
            up: true,
            issuer: None,
            jwks_uri: None,
            jwks: json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
            jwks_hits: 0,
        }));
        let router = Router::new()
            .route(
                "/realms/shop/.well-known/openid-configuration",
                get(document),
            )
            .route("/realms/shop/certs", get(certs))
            .with_state(Arc::clone(&state));
        let issuer = format!("{}/realms/shop", test_support::serve(router).await);
        state.lock().unwrap().real_issuer = issuer.clone();
        Self { issuer, state }
    }

    fn edit(&self, change: impl FnOnce(&mut ProviderState)) {
        change(&mut self.state.lock().unwrap());
    }

    fn jwks_hits(&self) -> usize {
        self.state.lock().unwrap().jwks_hits
    }

    /// A token this provider's `key` signed as `alg`, at `clock`'s time.
    fn token(&self, key: &TestKey, alg: Algorithm, clock: &ManualClock) -> String {
        let mut claims = claims_at(clock.now());
        claims["iss"] = json!(self.issuer);
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": key.kid });
        sign(&header, &claims, &key.encoding, alg)
    }
}

fn three_lines(issuer: &str, clock: &ManualClock) -> Verifier {
    Verifier::builder()
        .oidc_issuer(issuer)
        .audience(AUDIENCE)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn three_builder_lines_verify_rs256_es256_and_eddsa_tokens_of_a_discovered_issuer() {
    let p256 = curve_key("p256", Algorithm::ES256);
    let ed25519 = curve_key("ed", Algorithm::EdDSA);
    let provider = Provider::start(&[key(0), &p256, &ed25519]).await;
    let clock = clock();
    let verifier = three_lines(&provider.issuer, &clock);

    verifier.prefetch().await.unwrap();
    for (key, alg) in [
        (key(0), Algorithm::RS256),
        (&p256, Algorithm::ES256),
        (&ed25519, Algorithm::EdDSA),
    ] {
        let token = provider.token(key, alg, &clock);
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims.issuer(), Some(provider.issuer.as_str()), "{alg:?}");
    }

    // The discovered issuer is also the `iss` every token must carry.
    let mut claims = claims_at(clock.now());
    claims["iss"] = json!("https://another.example.com/realms/shop");
    let header = json!({ "alg": "RS256", "kid": key(0).kid });
    let foreign = sign(&header, &claims, &key(0).encoding, Algorithm::RS256);
    assert_eq!(
        verifier.verify(&foreign).await.unwrap_err(),
        Rejection::InvalidToken(InvalidToken::WrongIssuer)
    );
}

#[tokio::test]
async fn a_document_naming_another_issuer_or_an_http_jwks_is_never_followed() {
    let clock = clock();
    let cases: [fn(&mut ProviderState); 3] = [
        |s| s.issuer = Some("https://evil.example.com/realms/shop".into()),
        |s| s.issuer = Some(format!("{}/", s.real_issuer)),
        |s| s.jwks_uri = Some("http://keys.example.com/certs".into()),
    ];
    for change in cases {
        let provider = Provider::start(&[key(0)]).await;
        provider.edit(change);
        let verifier = three_lines(&provider.issuer, &clock);

        let refused = verifier.prefetch().await.unwrap_err();

        assert!(
            matches!(refused, Rejection::KeysUnavailable { .. }),
            "{refused:?}"
        );
        let token = provider.token(key(0), Algorithm::RS256, &clock);
        assert!(matches!(
            verifier.verify(&token).await.unwrap_err(),
            Rejection::KeysUnavailable { .. }
        ));
        assert_eq!(
            provider.jwks_hits(),
            0,
            "no JWKS fetched through an untrusted document"
        );
    }
}

#[tokio::test]
async fn a_provider_down_at_start_is_503_until_discovery_succeeds() {
    let provider = Provider::start(&[key(0)]).await;
    provider.edit(|s| s.up = false);
    let clock = clock();
    let verifier = three_lines(&provider.issuer, &clock);
    let token = provider.token(key(0), Algorithm::RS256, &clock);

    assert!(matches!(
        verifier.verify(&token).await.unwrap_err(),
        Rejection::KeysUnavailable { .. }
    ));

    provider.edit(|s| s.up = true);
    clock.advance(Duration::from_secs(2));
    assert!(verifier.verify(&token).await.is_ok());
}

#[test]
fn the_builder_refuses_http_off_loopback_a_second_source_or_another_issuer() {
    let builder = || Verifier::builder().audience(AUDIENCE);

    let refused = builder()
        .oidc_issuer("http://idp.example.com/realms/shop")
        .build()
        .unwrap_err();
    assert!(
        matches!(refused, BuildError::InvalidIssuerUrl(_)),
        "{refused:?}"
    );
    assert!(
        builder()
            .oidc_issuer("http://idp.example.com/realms/shop")
            .insecure_allow_http()
            .build()
            .is_ok()
    );
    assert_eq!(
        builder()
            .oidc_issuer("https://idp.example.com")
            .jwks_url("https://idp.example.com/certs")
            .build()
            .unwrap_err(),
        BuildError::ConflictingKeySources
    );
    assert_eq!(
        builder()
            .oidc_issuer("https://idp.example.com")
            .issuer("https://other.example.com")
            .build()
            .unwrap_err(),
        BuildError::InvalidSetting {
            setting: Setting::Issuer,
            reason: "oidc_issuer sets the expected issuer; do not set another"
        }
    );
}

// Several issuers in one verifier.

fn tenant(issuer: &str, clock: &ManualClock) -> Verifier {
    three_lines(issuer, clock)
}

#[tokio::test]
async fn each_issuers_token_is_verified_with_its_own_keys_and_no_other() {
    let p256 = curve_key("b-p256", Algorithm::ES256);
    let a = Provider::start(&[key(0)]).await;
    let b = Provider::start(&[&p256]).await;
    let clock = clock();
    let verifier =
        Verifier::for_issuers([tenant(&a.issuer, &clock), tenant(&b.issuer, &clock)]).unwrap();

    let from_a = a.token(key(0), Algorithm::RS256, &clock);
    let from_b = b.token(&p256, Algorithm::ES256, &clock);
    assert_eq!(
        verifier.verify(&from_a).await.unwrap().issuer(),
        Some(a.issuer.as_str())
    );
    assert_eq!(
        verifier.verify(&from_b).await.unwrap().issuer(),
        Some(b.issuer.as_str())
    );

    // A's key signing a token that claims B's `iss`: checked against B's keys, which do not
    // have A's kid; and the other way round.
    let mut claims = claims_at(clock.now());
    claims["iss"] = json!(b.issuer);
    let header = json!({ "alg": "RS256", "kid": key(0).kid });
    let crossed = sign(&header, &claims, &key(0).encoding, Algorithm::RS256);
    assert_eq!(
        verifier.verify(&crossed).await.unwrap_err(),
        Rejection::InvalidToken(InvalidToken::UnknownKey)
    );
}

#[tokio::test]
async fn an_unknown_or_missing_iss_is_refused_without_any_fetch() {
    let a = Provider::start(&[key(0)]).await;
    let clock = clock();
    let verifier = Verifier::for_issuers([tenant(&a.issuer, &clock)]).unwrap();

    for iss in [Some(json!("https://unknown.example.com")), None] {
        let mut claims = claims_at(clock.now());
        match &iss {
            Some(iss) => claims["iss"] = iss.clone(),
            None => drop(claims.as_object_mut().unwrap().remove("iss")),
        }
        let header = json!({ "alg": "RS256", "kid": key(0).kid });
        let token = sign(&header, &claims, &key(0).encoding, Algorithm::RS256);

        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            Rejection::InvalidToken(InvalidToken::WrongIssuer),
            "{iss:?}"
        );
    }
    assert_eq!(a.jwks_hits(), 0, "an unknown issuer costs no download");
}

#[tokio::test]
async fn one_provider_down_leaves_the_other_serving() {
    let a = Provider::start(&[key(0)]).await;
    let b = Provider::start(&[key(1)]).await;
    b.edit(|s| s.up = false);
    let clock = clock();
    let verifier =
        Verifier::for_issuers([tenant(&a.issuer, &clock), tenant(&b.issuer, &clock)]).unwrap();

    assert!(verifier.prefetch().await.is_err(), "B could not be loaded");
    assert!(!verifier.has_keys());
    assert!(
        verifier
            .verify(&a.token(key(0), Algorithm::RS256, &clock))
            .await
            .is_ok()
    );
    assert!(matches!(
        verifier
            .verify(&b.token(key(1), Algorithm::RS256, &clock))
            .await
            .unwrap_err(),
        Rejection::KeysUnavailable { .. }
    ));
}

#[test]
fn for_issuers_needs_distinct_expected_issuers() {
    let clock = clock();
    let one = || tenant("https://idp.example.com", &clock);
    let skipping = Verifier::builder()
        .jwks_url("https://idp.example.com/certs")
        .insecure_skip_issuer_check()
        .audience(AUDIENCE)
        .build()
        .unwrap();

    for (verifiers, reason) in [
        (vec![], "for_issuers needs at least one verifier"),
        (
            vec![one(), one()],
            "two verifiers of for_issuers expect the same issuer",
        ),
        (
            vec![one(), skipping],
            "each verifier of for_issuers must expect its own issuer (not skipped, not several)",
        ),
    ] {
        assert_eq!(
            Verifier::for_issuers(verifiers).unwrap_err(),
            BuildError::InvalidSetting {
                setting: Setting::Issuer,
                reason
            }
        );
    }
}
