//! Minting tokens the way an attacker would: any header, any payload, any key, any encoding.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, crypto};
use serde_json::{Value, json};
use test_support::stack::ISSUER;

/// base64url without padding, as JWS uses it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS over the exact header and payload texts given (so duplicate keys and odd
/// encodings survive), signed with `key` under `alg`.
pub fn sign_texts(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    sign_segments(&b64(header), &b64(payload), key, alg)
}

/// A compact JWS over already-encoded segments, signed with `key` under `alg`.
pub fn sign_segments(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let signing_input = format!("{header}.{payload}");
    let signature = crypto::sign(signing_input.as_bytes(), key, alg).expect("sign");
    format!("{signing_input}.{signature}")
}

/// A compact JWS of two JSON values.
pub fn sign(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    sign_texts(&header.to_string(), &claims.to_string(), key, alg)
}

/// An HS256 token keyed with `secret`.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    sign(
        header,
        claims,
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
}

/// Header and payload of a token with `signature` (base64url text) in place of its own.
pub fn with_signature(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

pub fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(seconds).unwrap()
}

/// Claims shaped exactly like the issuer's access tokens, for role `user`.
pub fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "sub": "0190c0de-0000-7000-8000-000000000001",
        "aud": "api",
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": "0190c0de-0000-7000-8000-00000000000a",
        "sid": "0190c0de-0000-7000-8000-00000000000b",
        "email": "mallory@example.com",
        "role": "user",
        "type": "access",
    })
}

/// [`claims`] with `name` set to `value` (`Value::Null` removes it).
pub fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    match value {
        Value::Null => {
            claims.as_object_mut().unwrap().remove(name);
        }
        value => claims[name] = value,
    }
    claims
}

/// The base64 text of a PEM block, without its armour lines.
pub fn pem_base64(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}

/// The DER inside a PEM block.
pub fn pem_body(pem: &str) -> Vec<u8> {
    STANDARD.decode(pem_base64(pem)).expect("PEM body")
}

/// The bytes of a base64url segment.
pub fn b64_decode(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(segment).expect("base64url")
}

/// A PEM block of `der` under `label`, 64 columns.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The PKCS#1 `RSAPublicKey` inside an RSA-2048 SubjectPublicKeyInfo: everything after the
/// fixed 24-byte prefix (algorithm identifier and bit-string header).
pub fn pkcs1_of_spki(spki: &[u8]) -> Vec<u8> {
    const RSA_2048_SPKI_PREFIX: [u8; 24] = [
        0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
        0x01, 0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
    ];
    assert_eq!(spki[..24], RSA_2048_SPKI_PREFIX, "an RSA-2048 SPKI");
    spki[24..].to_vec()
}
