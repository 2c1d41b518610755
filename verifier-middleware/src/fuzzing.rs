//! Entry points for the fuzz targets (`verifier-middleware/fuzz`) and their corpus replay test.
//!
//! Not part of the supported API: compiled only with the `fuzzing` feature, hidden from the
//! docs, and free to change. Each function runs one stage of what the layer does with untrusted
//! input, exactly as the layer runs it, and throws the result away: a fuzzer only looks for
//! panics, hangs and runaway memory.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use jsonwebtoken::Algorithm;

use crate::builder::DEFAULT_MAX_TOKEN_BYTES;
use crate::claims::{self, ClaimRules};

/// `Authorization` header values as the layer reads them (each line of `data` is one value, so
/// repeated headers are covered too).
pub fn authorization_header(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&byte| byte == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(AUTHORIZATION, value);
        }
    }
    let _ = crate::layer::bearer_token(&headers);
}

/// Splitting a token into its segments, decoding and checking its header, and decoding its
/// payload, as done before and after the signature check.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = crate::token::parse(text, DEFAULT_MAX_TOKEN_BYTES) {
        let _ = crate::token::decode_payload(parsed.payload);
    }
}

/// The registered-claim checks on a payload (JSON bytes), with an issuer and an audience
/// configured, at a fixed time.
pub fn claims(data: &[u8]) {
    let Ok(object) = serde_json::from_slice(data) else {
        return;
    };
    let rules = ClaimRules {
        issuer: Some(Arc::from("https://issuer.example")),
        audiences: Some(Arc::from(["api".to_owned()])),
        leeway_seconds: 60,
    };
    if let Ok(verified) = claims::validate(object, &rules, 1_700_000_000) {
        let _ = (verified.roles(), verified.subject(), verified.expires_at());
    }
}

/// Reading a JWKS document as a download is read, with RS256 and PS256 accepted.
pub fn jwks(data: &[u8]) {
    let algorithms: Arc<[Algorithm]> = Arc::from([Algorithm::RS256, Algorithm::PS256]);
    let _ = crate::keys::jwk::parse_jwks(data, &algorithms);
}
