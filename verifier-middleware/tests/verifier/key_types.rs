//! Keys of every kind an OpenID provider publishes (RSA, EC P-256 and P-384, Ed25519), served
//! from a real JWKS or given as PEM or JWK, verifying tokens that jsonwebtoken signed; and no
//! header ever making one kind of key verify another kind's algorithm.

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use verifier_middleware::{BuildError, SignatureAlgorithm, Verifier};

use crate::support::{
    JwksServer, TestApp, TestKey, assert_invalid_token, b64, builder, claims_at, clock, curve_key,
    key, sign,
};

const ALG_REFUSED: &str = "the token's algorithm is not accepted";

/// A P-256, a P-384 and an Ed25519 key, generated once per test binary.
fn curve_keys() -> &'static [TestKey; 3] {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            curve_key("p256", Algorithm::ES256),
            curve_key("p384", Algorithm::ES384),
            curve_key("ed25519", Algorithm::EdDSA),
        ]
    })
}

/// Each key with the algorithm it signs with: the RSA key first.
fn every_key() -> [(&'static TestKey, Algorithm); 4] {
    let [p256, p384, ed25519] = curve_keys();
    [
        (key(0), Algorithm::RS256),
        (p256, Algorithm::ES256),
        (p384, Algorithm::ES384),
        (ed25519, Algorithm::EdDSA),
    ]
}

/// A token whose header says `alg` and names `kid`, signed by `signer` as `alg`.
fn token(alg: Algorithm, kid: &str, signer: &EncodingKey) -> String {
    let header = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
    sign(
        &header,
        &claims_at(std::time::SystemTime::now()),
        signer,
        alg,
    )
}

/// A verifier on a real JWKS server publishing all four keys, with the default algorithms.
async fn app_on_jwks(without_alg: bool) -> (TestApp, JwksServer) {
    let server = JwksServer::start(&[]).await;
    let keys: Vec<Value> = every_key()
        .iter()
        .map(|(key, _)| {
            let mut jwk = key.jwk.clone();
            if without_alg {
                jwk.as_object_mut().unwrap().remove("alg");
            }
            jwk
        })
        .collect();
    server.set_jwks(json!({ "keys": keys }));
    let verifier = builder(&clock()).jwks_url(&server.url).build().unwrap();
    (TestApp::start(&verifier).await, server)
}

#[tokio::test]
async fn a_token_of_each_kind_of_key_verifies_from_one_jwks_with_or_without_jwk_algs() {
    for without_alg in [false, true] {
        let (app, _server) = app_on_jwks(without_alg).await;
        for (key, alg) in every_key() {
            let token = token(alg, &key.kid, &key.encoding);

            let response = app.get("/any", Some(&token)).await;

            assert_eq!(
                response.status(),
                200,
                "{alg:?} (JWK without alg: {without_alg})"
            );
        }
    }
}

#[tokio::test]
async fn no_header_makes_one_kind_of_key_verify_another_kinds_algorithm() {
    let (app, _server) = app_on_jwks(true).await;
    let keys = every_key();
    // Every pair of (the key the header names, the key that really signed): a token signed
    // by one key, labelled with its own algorithm, naming another key's kid.
    for (named, named_alg) in keys {
        for (signer, signer_alg) in keys.iter().filter(|(_, alg)| *alg != named_alg) {
            let token = token(*signer_alg, &named.kid, &signer.encoding);

            let response = app.get("/any", Some(&token)).await;

            assert_invalid_token(response, ALG_REFUSED).await;
        }
    }
}

#[tokio::test]
async fn hs256_keyed_with_a_curve_keys_public_forms_is_refused() {
    let (app, _server) = app_on_jwks(true).await;
    for key in curve_keys() {
        let x = key.jwk["x"].as_str().unwrap();
        let forms: [(&str, Vec<u8>); 4] = [
            ("PEM", key.public_pem.as_bytes().to_vec()),
            ("DER", key.public_der.clone()),
            ("JWK", key.jwk.to_string().into_bytes()),
            ("x", x.as_bytes().to_vec()),
        ];
        for (form, secret) in forms {
            let token = token(
                Algorithm::HS256,
                &key.kid,
                &EncodingKey::from_secret(&secret),
            );

            let response = app.get("/any", Some(&token)).await;

            assert_eq!(response.status(), 401, "{} as {form}", key.kid);
            assert_invalid_token(response, ALG_REFUSED).await;
        }
    }
}

#[tokio::test]
async fn ecdsa_signatures_in_der_or_zero_form_are_refused() {
    let (app, _server) = app_on_jwks(false).await;
    let [p256, p384, _] = curve_keys();
    for (key, alg, size) in [(p256, Algorithm::ES256, 64), (p384, Algorithm::ES384, 96)] {
        let genuine = token(alg, &key.kid, &key.encoding);
        let (signing_input, signature) = genuine.rsplit_once('.').unwrap();
        assert_eq!(app.get("/any", Some(&genuine)).await.status(), 200);
        // CVE-2022-21449's "psychic signature" r = s = 0, raw and DER; the genuine signature
        // with a byte cut off.
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        for forged in [
            b64(vec![0u8; size]),
            b64([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]),
            b64(&raw[..size - 1]),
        ] {
            let token = format!("{signing_input}.{forged}");
            let response = app.get("/any", Some(&token)).await;
            assert_invalid_token(response, "the token signature is invalid").await;
        }
    }
}

#[tokio::test]
async fn a_curve_key_given_as_pem_or_jwk_verifies_its_tokens() {
    for (key, alg) in every_key().into_iter().skip(1) {
        let from_pem = builder(&clock()).public_key_pem(&key.public_pem);
        let from_jwk = builder(&clock()).public_jwk(key.jwk.to_string());
        for (source, built) in [("PEM", from_pem), ("JWK", from_jwk)] {
            let verifier: Verifier = built.build().unwrap();
            let token = token(alg, &key.kid, &key.encoding);

            assert!(
                verifier.verify(&token).await.is_ok(),
                "{alg:?} from {source}"
            );
        }
    }
}

#[test]
fn a_static_curve_key_outside_the_allowed_algorithms_stops_the_build() {
    let [p256, _, ed25519] = curve_keys();

    let refused = |key: &TestKey| {
        builder(&clock())
            .public_key_pem(&key.public_pem)
            .algorithms([SignatureAlgorithm::Rs256])
            .build()
            .unwrap_err()
    };

    assert_eq!(
        refused(p256),
        BuildError::InvalidKey("no accepted algorithm fits this P-256 key".into())
    );
    assert_eq!(
        refused(ed25519),
        BuildError::InvalidKey("no accepted algorithm fits this Ed25519 key".into())
    );
}
