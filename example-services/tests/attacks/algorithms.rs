//! Algorithm attacks: `none`, algorithms outside the pin, and HS256 keyed with the public key.

use serde_json::{Value, json};
use test_support::stack::service_on;

use crate::forge::{self, b64, claims, hs256, with_signature};
use crate::target::{ALG_REFUSED, BAD_SIGNATURE, NOT_COMPACT, Target, assert_invalid_token};

/// A secret the migration-mode service really shares with HS256 issuers.
const SECRET: &str = "a-shared-secret-of-at-least-32-bytes-for-hs256";

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling_with_or_without_a_signature() {
    let target = Target::start().await;
    target
        .assert_accepted("control", &target.token(&claims()))
        .await;

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": target.kid });
        let unsigned = with_signature(&header, &claims(), "");
        target
            .assert_refused(&format!("{alg}, empty signature"), &unsigned, NOT_COMPACT)
            .await;
        // A real RS256 signature pasted under `none` must not help either.
        let genuine = target.token(&claims());
        let signature = genuine.rsplit('.').next().unwrap();
        let pasted = with_signature(&header, &claims(), signature);
        target
            .assert_refused(&format!("{alg}, pasted signature"), &pasted, ALG_REFUSED)
            .await;
        let placeholder = with_signature(&header, &claims(), &b64("x"));
        target
            .assert_refused(&format!("{alg}, placeholder"), &placeholder, ALG_REFUSED)
            .await;
    }
}

#[tokio::test]
async fn algorithms_outside_the_pin_are_refused_including_the_psychic_es256_signature() {
    let target = Target::start().await;
    let genuine = target.token(&claims());
    let rsa_signature = genuine.rsplit('.').next().unwrap().to_owned();
    // CVE-2022-21449: r = s = 0, raw (JWS form) and DER-encoded.
    let psychic = b64([0u8; 64]);
    let psychic_der = b64([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);

    let cases = [
        ("ES256", psychic.clone()),
        ("ES256", psychic_der),
        ("ES384", b64([0u8; 96])),
        ("ES512", b64([0u8; 132])),
        ("EdDSA", b64([0u8; 64])),
        ("RS384", rsa_signature.clone()),
        ("RS512", rsa_signature.clone()),
        ("PS256", rsa_signature.clone()),
        ("PS384", rsa_signature.clone()),
        ("PS512", rsa_signature),
        ("HS384", b64([7u8; 48])),
        ("HS512", b64([7u8; 64])),
        ("ES256K", psychic),
        ("RSA-OAEP", b64("x")),
    ];
    for (alg, signature) in cases {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": target.kid });
        let token = with_signature(&header, &claims(), &signature);
        target.assert_refused(alg, &token, ALG_REFUSED).await;
    }
}

/// Every form of the issuer's public key a naive verifier might feed to HMAC as the secret.
fn public_key_as_secrets(target: &Target, served_pem: &str) -> Vec<(&'static str, Vec<u8>)> {
    let spki = forge::pem_body(served_pem);
    let pkcs1 = forge::pkcs1_of_spki(&spki);
    let jwk = &target.jwks["keys"][0];
    let modulus = jwk["n"].as_str().unwrap();
    vec![
        ("PEM as served", served_pem.as_bytes().to_vec()),
        (
            "PEM without final newline",
            served_pem.trim_end().as_bytes().to_vec(),
        ),
        (
            "PEM with CRLF",
            served_pem.replace('\n', "\r\n").into_bytes(),
        ),
        (
            "PEM as written to disk",
            target.issuer.public_key_pem().into_bytes(),
        ),
        ("PEM body only", forge::pem_base64(served_pem).into_bytes()),
        (
            "PKCS#1 PEM",
            forge::pem_block("RSA PUBLIC KEY", &pkcs1).into_bytes(),
        ),
        ("SPKI DER", spki),
        ("PKCS#1 DER", pkcs1),
        ("JWK JSON", jwk.to_string().into_bytes()),
        (
            "JWK JSON, pretty",
            serde_json::to_string_pretty(jwk).unwrap().into_bytes(),
        ),
        ("JWKS document", target.jwks.to_string().into_bytes()),
        ("modulus text", modulus.as_bytes().to_vec()),
        ("modulus bytes", forge::b64_decode(modulus)),
    ]
}

async fn served_pem(target: &Target) -> String {
    let response = target
        .client
        .get(format!("{}/public-key", target.issuer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_in_any_form_is_refused_by_an_rs256_service() {
    let target = Target::start().await;
    let pem = served_pem(&target).await;

    for (form, secret) in public_key_as_secrets(&target, &pem) {
        for kid in [Some(target.kid.as_str()), None] {
            let mut header = json!({ "alg": "HS256", "typ": "at+jwt" });
            if let Some(kid) = kid {
                header["kid"] = Value::from(kid);
            }
            let token = hs256(&header, &claims(), &secret);
            target.assert_refused(form, &token, ALG_REFUSED).await;
        }
    }
}

#[tokio::test]
async fn the_migration_mode_refuses_hs256_keyed_with_the_public_key_or_a_weak_secret() {
    let target = Target::start_with(&[("JWT_SECRET", SECRET.to_owned())]).await;
    let pem = served_pem(&target).await;
    let header = json!({ "alg": "HS256", "typ": "at+jwt" });
    target
        .assert_accepted(
            "control: the shared secret",
            &hs256(&header, &claims(), SECRET.as_bytes()),
        )
        .await;
    target
        .assert_accepted("control: the issuer's key", &target.token(&claims()))
        .await;

    let mut secrets = public_key_as_secrets(&target, &pem);
    secrets.extend([
        ("empty key", Vec::new()),
        ("one byte", b"a".to_vec()),
        ("a short word", b"secret".to_vec()),
        (
            "the secret minus its last byte",
            SECRET.as_bytes()[..SECRET.len() - 1].to_vec(),
        ),
        ("the secret plus a byte", format!("{SECRET}x").into_bytes()),
    ]);
    for (form, secret) in secrets {
        for kid in [Some(target.kid.as_str()), None] {
            let mut header = header.clone();
            if let Some(kid) = kid {
                header["kid"] = Value::from(kid);
            }
            let token = hs256(&header, &claims(), &secret);
            target.assert_refused(form, &token, BAD_SIGNATURE).await;
        }
    }
}

#[tokio::test]
async fn an_hs256_only_service_refuses_tokens_keyed_with_an_empty_or_short_secret() {
    let service = service_on("user-service", &[("JWT_SECRET", SECRET.to_owned())]);
    let client = reqwest::Client::new();
    let header = json!({ "alg": "HS256", "typ": "at+jwt" });
    let book = |token: String| {
        client
            .post(format!("{}/book", service.base_url))
            .bearer_auth(token)
            .send()
    };
    let control = book(hs256(&header, &claims(), SECRET.as_bytes()))
        .await
        .unwrap();
    assert_eq!(control.status(), 200);

    for secret in [&b""[..], b"\0", b"secret", b"short-but-not-32-bytes"] {
        let response = book(hs256(&header, &claims(), secret)).await.unwrap();
        assert_invalid_token(&format!("{secret:?}"), response, BAD_SIGNATURE).await;
    }
}
