//! The token's shape and encoding: signatures cut or moved, payloads changed under a valid
//! signature, JWE and JSON serialisations, non-canonical base64, oversized tokens, and headers
//! that are not one bearer token.

use serde_json::json;

use crate::forge::{b64, claims, claims_with};
use crate::target::{
    BAD_SIGNATURE, MALFORMED_CLAIMS, MALFORMED_HEADER, NOT_COMPACT, Target, assert_invalid_token,
};

#[tokio::test]
async fn empty_truncated_and_transplanted_signatures_are_refused() {
    let target = Target::start().await;
    let genuine = target.token(&claims());
    target.assert_accepted("control", &genuine).await;
    let (signed, signature) = genuine.rsplit_once('.').unwrap();

    target
        .assert_refused("empty signature", &format!("{signed}."), NOT_COMPACT)
        .await;
    for cut in [1, 4, 10, signature.len() / 2, signature.len() - 1] {
        let truncated = format!("{signed}.{}", &signature[..signature.len() - cut]);
        target
            .assert_refused(&format!("{cut} characters cut"), &truncated, BAD_SIGNATURE)
            .await;
    }
    let doubled = format!("{signed}.{signature}{signature}");
    target
        .assert_refused("signature repeated", &doubled, BAD_SIGNATURE)
        .await;
    let zeros = format!("{signed}.{}", b64([0u8; 256]));
    target
        .assert_refused("all-zero signature", &zeros, BAD_SIGNATURE)
        .await;
    // A genuine signature of another token.
    let other = target.token(&claims_with("sub", json!("someone-else")));
    let transplanted = format!("{signed}.{}", other.rsplit('.').next().unwrap());
    target
        .assert_refused("another token's signature", &transplanted, BAD_SIGNATURE)
        .await;
}

#[tokio::test]
async fn a_payload_or_header_changed_under_a_valid_signature_is_refused() {
    let target = Target::start().await;
    let genuine = target.token(&claims());
    let mut parts = genuine.split('.');
    let (header, _, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );

    for (case, edited) in [
        ("role raised", claims_with("role", json!("admin"))),
        ("subject swapped", claims_with("sub", json!("victim"))),
        (
            "expiry extended",
            claims_with("exp", json!(forge_far_future())),
        ),
        (
            "audience added",
            claims_with("aud", json!(["api", "other"])),
        ),
    ] {
        let tampered = format!("{header}.{}.{signature}", b64(edited.to_string()));
        target.assert_refused(case, &tampered, BAD_SIGNATURE).await;
    }
    let mut header_edit = target.header();
    header_edit["typ"] = json!("JWT");
    let tampered = format!(
        "{}.{}.{signature}",
        b64(header_edit.to_string()),
        b64(claims().to_string())
    );
    target
        .assert_refused("header changed", &tampered, BAD_SIGNATURE)
        .await;
}

fn forge_far_future() -> i64 {
    crate::forge::now() + 10 * 365 * 24 * 3600
}

#[tokio::test]
async fn jwe_json_and_two_or_four_segment_tokens_are_not_compact_jws() {
    let target = Target::start().await;
    let genuine = target.token(&claims());
    let (signed, _) = genuine.rsplit_once('.').unwrap();
    let jwe_header = b64(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k"}"#);
    let jwe = format!("{jwe_header}.{0}.{0}.{0}.{0}", b64([1u8; 16]));

    for (case, token) in [
        ("JWE, five segments", jwe),
        ("two segments", signed.to_owned()),
        ("four segments", format!("{genuine}.{}", b64("x"))),
        ("trailing dot", format!("{genuine}.")),
        (
            "empty header",
            format!(".{}", genuine.split_once('.').unwrap().1),
        ),
        ("one segment", b64("x")),
    ] {
        target.assert_refused(case, &token, NOT_COMPACT).await;
    }
    // The JWS JSON serialisation is not even a bearer token (braces, quotes, colons).
    let json_serialised = format!(r#"{{"payload":"{}","signatures":[]}}"#, b64("{}"));
    let response = target.book(&json_serialised).await;
    assert_invalid_token(
        "JSON serialisation",
        response,
        "the Authorization header is not a well-formed bearer token",
    )
    .await;
}

/// Re-encodes a base64url segment so it decodes to the same bytes with a non-zero trailing
/// bit: the last character carries bits beyond the data, which a lax decoder drops.
fn with_trailing_bits(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_bits = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => panic!("segment length {} leaves no unused bits", segment.len()),
    };
    let last = *segment.as_bytes().last().unwrap();
    let index = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(index % (1 << unused_bits), 0, "canonical to begin with");
    format!(
        "{}{}",
        &segment[..segment.len() - 1],
        ALPHABET[index + 1] as char
    )
}

/// Claims whose base64url encoding leaves unused bits in its last character and holds a
/// character of the URL-safe alphabet (`~~~` encodes as `fn5-`).
fn claims_with_unused_bits() -> serde_json::Value {
    let mut padding = "~~~".to_owned();
    loop {
        let claims = claims_with("pad", json!(padding));
        let encoded = b64(claims.to_string());
        if encoded.len() % 4 >= 2 && encoded.contains(['-', '_']) {
            return claims;
        }
        padding.push('~');
    }
}

#[tokio::test]
async fn non_canonical_base64_is_refused_even_under_a_valid_signature() {
    let target = Target::start().await;
    let claims = claims_with_unused_bits();
    let payload = b64(claims.to_string());
    let header = b64(target.header().to_string());
    target
        .assert_accepted("control", &target.token(&claims))
        .await;

    // Signed over the odd encodings themselves, so only the decoding can refuse them.
    let sign = |header: &str, payload: &str| {
        crate::forge::sign_segments(header, payload, &target.key, jsonwebtoken::Algorithm::RS256)
    };
    let cases = [
        (
            "payload with trailing bits",
            sign(&header, &with_trailing_bits(&payload)),
            MALFORMED_CLAIMS,
        ),
        (
            "padded payload",
            sign(
                &header,
                &format!("{payload}{}", "=".repeat(4 - payload.len() % 4)),
            ),
            MALFORMED_CLAIMS,
        ),
        (
            "standard-alphabet payload",
            sign(&header, &to_standard_alphabet(&payload)),
            MALFORMED_CLAIMS,
        ),
        (
            "padded header",
            sign(&format!("{header}="), &payload),
            MALFORMED_HEADER,
        ),
    ];
    for (case, token, description) in cases {
        target.assert_refused(case, &token, description).await;
    }

    let genuine = target.token(&claims);
    let (signed, signature) = genuine.rsplit_once('.').unwrap();
    // A 256-byte signature is 342 characters: its last one has 2 unused bits.
    let odd_signature = format!("{signed}.{}", with_trailing_bits(signature));
    target
        .assert_refused(
            "signature with trailing bits",
            &odd_signature,
            BAD_SIGNATURE,
        )
        .await;
    let padded_signature = format!("{signed}.{signature}==");
    target
        .assert_refused("padded signature", &padded_signature, BAD_SIGNATURE)
        .await;
}

/// The same bytes in standard base64 (`+` and `/` for `-` and `_`).
fn to_standard_alphabet(segment: &str) -> String {
    let converted = segment.replace('-', "+").replace('_', "/");
    assert_ne!(converted, segment, "the segment has a URL-safe character");
    converted
}

#[tokio::test]
async fn an_oversized_token_is_refused_as_too_long_before_it_is_parsed() {
    let target = Target::start().await;
    // Segments a parser would call malformed (not JSON): the length check must come first.
    let junk = ["A".repeat(3000), "A".repeat(3000), "A".repeat(3000)].join(".");
    let huge = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256"}"#),
        "A".repeat(32 * 1024),
        b64("x")
    );
    for (case, token) in [("9 KB of junk", junk), ("32 KB", huge)] {
        target
            .assert_refused(case, &token, "the token is too long")
            .await;
    }
    let big_claims = claims_with("filler", json!("x".repeat(8 * 1024)));
    target
        .assert_refused(
            "a genuine but oversized token",
            &target.token(&big_claims),
            "the token is too long",
        )
        .await;
}

#[tokio::test]
async fn several_or_malformed_authorization_headers_are_refused() {
    let target = Target::start().await;
    let genuine = target.token(&claims());
    let url = format!("{}/book", target.service.base_url);

    let twice = target
        .client
        .post(&url)
        .header("authorization", format!("Bearer {genuine}"))
        .header("authorization", format!("Bearer {genuine}"))
        .send()
        .await
        .unwrap();
    assert_invalid_token(
        "two Authorization headers",
        twice,
        "the Authorization header is not a well-formed bearer token",
    )
    .await;
    for value in [
        format!("Bearer {genuine} {genuine}"),
        format!("Bearer {genuine},"),
        "Bearer ".to_owned(),
    ] {
        let response = target
            .client
            .post(&url)
            .header("authorization", value.clone())
            .send()
            .await
            .unwrap();
        assert_invalid_token(
            &value,
            response,
            "the Authorization header is not a well-formed bearer token",
        )
        .await;
    }
}
