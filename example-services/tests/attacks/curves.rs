//! A service that trusts an EC issuer (its JWKS holds one P-256 key, as Kanidm's or an
//! ES256-configured Keycloak's does): CVE-2022-21449's "psychic signature" and other malformed
//! ECDSA signatures, and every other algorithm named with the EC key's kid, are refused by the
//! real `user-service` binary.

use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use test_support::process::Process;
use test_support::stack::service_on;

use crate::forge::{self, b64, b64_decode, claims};
use crate::target::{ALG_REFUSED, BAD_SIGNATURE, assert_invalid_token, book};

/// P-256's group order n: r or s equal to it is out of range.
const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

struct EcTarget {
    service: Process,
    client: reqwest::Client,
    key: EncodingKey,
    jwk: Value,
}

impl EcTarget {
    async fn start() -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "ec-1",
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        });
        let document = json!({ "keys": [jwk.clone()] });
        let jwks = Router::new().route(
            "/jwks.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document) }
            }),
        );
        let jwks_url = format!("{}/jwks.json", test_support::serve(jwks).await);
        let service = service_on("user-service", &[("JWT_JWKS_URL", jwks_url)]);
        let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
        Self {
            service,
            client: reqwest::Client::new(),
            key,
            jwk,
        }
    }

    fn genuine(&self) -> String {
        let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "ec-1" });
        forge::sign(&header, &claims(), &self.key, Algorithm::ES256)
    }

    async fn book(&self, token: &str) -> reqwest::Response {
        book(&self.client, &self.service, token).await
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of 32-byte big-endian halves.
fn der(r: &[u8], s: &[u8]) -> Vec<u8> {
    let integer = |half: &[u8]| {
        let start = half.iter().position(|&b| b != 0).unwrap_or(half.len() - 1);
        let mut value = half[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        [vec![0x02, value.len() as u8], value].concat()
    };
    let body = [integer(r), integer(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn malformed_ecdsa_signatures_including_the_psychic_one_are_refused() {
    let target = EcTarget::start().await;
    let genuine = target.genuine();
    let response = target.book(&genuine).await;
    assert_eq!(response.status(), 200, "the control token books");
    let (signing_input, signature) = genuine.rsplit_once('.').unwrap();
    let raw = b64_decode(signature);
    let (r, s) = raw.split_at(32);
    let order = hex(P256_ORDER);

    let cases: [(&str, Vec<u8>); 8] = [
        ("r = s = 0 (CVE-2022-21449)", vec![0; 64]),
        ("r = s = 0, DER", der(&[0; 32], &[0; 32])),
        ("the genuine signature, DER", der(r, s)),
        ("r = 0", [&[0; 32][..], s].concat()),
        ("s = 0", [r, &[0; 32][..]].concat()),
        ("r = s = n", [&order[..], &order[..]].concat()),
        ("one byte short", raw[..63].to_vec()),
        ("one byte long", [&raw[..], &[0]].concat()),
    ];
    for (case, forged) in cases {
        let token = format!("{signing_input}.{}", b64(forged));
        assert_invalid_token(case, target.book(&token).await, BAD_SIGNATURE).await;
    }
}

#[tokio::test]
async fn other_algorithms_under_the_ec_keys_kid_are_refused() {
    let target = EcTarget::start().await;
    let genuine = target.genuine();
    let signature = genuine.rsplit_once('.').unwrap().1.to_owned();
    let x = target.jwk["x"].as_str().unwrap();

    for alg in ["ES384", "ES512", "EdDSA", "RS256", "PS256", "ES256K"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": "ec-1" });
        let token = forge::with_signature(&header, &claims(), &signature);
        assert_invalid_token(alg, target.book(&token).await, ALG_REFUSED).await;
    }
    // HS256 keyed with the public key as a naive verifier would read it.
    let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": "ec-1" });
    for (form, secret) in [("x", x.to_owned()), ("JWK", target.jwk.to_string())] {
        let token = forge::hs256(&header, &claims(), secret.as_bytes());
        assert_invalid_token(form, target.book(&token).await, ALG_REFUSED).await;
    }
}
