//! Entry points for the fuzz targets (`verifier-middleware/fuzz`), their corpus replay test and
//! the benchmarks.
//!
//! Not part of the supported API: compiled only with the `fuzzing` feature, hidden from the
//! docs, and free to change. Each function runs one stage of what the layer does with untrusted
//! input, exactly as the layer runs it, and throws the result away: a fuzzer only looks for
//! panics, hangs and runaway memory.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use jsonwebtoken::Algorithm;

use crate::claims::{self, ClaimRules, DEFAULT_LEEWAY, leeway_seconds};
use crate::clock::ManualClock;
use crate::token::DEFAULT_MAX_TOKEN_BYTES;
use crate::verifier::{Attempt, Verifier};

/// The RSA key of the committed `token/rs256-at-jwt` seed (`fuzz/seeds/jwks/rsa-2048`): a
/// throwaway test key, so the `verify` target starts from a token that passes every check.
const SEED_JWK: &str = r#"{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","e":"AQAB","n":"taMEa4DLs_jyDT__hwt9mwf7KjXU9cFfcSTQOMP_owpbALuAlM6hDA-LzuqUSZpnQxylfJaz3wUPr3GiqG0JYYp2vGcZX7S9q8l5kgeY30oENVQviHCUOV4VWdMPHcg5MWkLOtxT_3rwihWmblXQVFvM_-Vh7--tWXZb1h0TwB70gFEaXeoZ4YvTV0lwmfJhkwPvnYRt_ToluYWtEcklFEsxx2ZJwQzwKdmMYyoX9NSUuL2tVY0A40Dsi4uQE_4gOjQZd0JD1sYZsSgLQ0CE-EHUye80gETTj6yzg3vSAJSyKbgoUf5Zoxtgglb81pG0T0VNtYradFR6tviY8czw3w"}"#;

/// The seeds' issuer, audience and time (`iat` of the seed token).
const SEED_ISSUER: &str = "https://issuer.example";
const SEED_NOW: u64 = 1_700_000_000;

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
/// configured and the default leeway, at a fixed time.
pub fn claims(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let rules = ClaimRules {
        issuer: Some(Arc::from(SEED_ISSUER)),
        audiences: Some(Arc::from(["api".to_owned()])),
        leeway_seconds: leeway_seconds(DEFAULT_LEEWAY),
        role_claims: None,
    };
    if let Ok(verified) = claims::validate(json.to_owned(), &rules, SEED_NOW as i64) {
        let _ = (verified.roles(), verified.subject(), verified.expires_at());
        // The map a handler may ask for, made from the same text.
        assert!(verified.payload().is_object());
    }
}

/// Reading a JWKS document as a download is read, with every public-key algorithm accepted
/// (RS256, PS256, ES256, ES384, EdDSA), so that RSA, EC and OKP keys are all parsed.
pub fn jwks(data: &[u8]) {
    let algorithms: Arc<[Algorithm]> = Arc::from([
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ]);
    let _ = crate::keys::jwk::parse_jwks(data, &algorithms);
}

/// Reading an OpenID discovery document as the JWKS cache reads it (issuer compared exactly,
/// `jwks_uri` parsed and required to be https).
pub fn discovery(data: &[u8]) {
    let _ = crate::keys::jwks::discovery::jwks_uri(data, "https://issuer.example/realms/a", false);
}

/// A whole verification as the layer runs it (form, key lookup, signature, claims), with the
/// seed's RSA key and an HS256 secret, at the seed's time. Answers whether the token passed, so
/// the replay test can check that the seed token really reaches the end.
pub fn verify(data: &[u8]) -> bool {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let verifier = VERIFIER.get_or_init(|| {
        Verifier::builder()
            .public_jwk(SEED_JWK)
            .hs256_secret([7u8; 32])
            .issuer(SEED_ISSUER)
            .audience("api")
            .clock(ManualClock::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(SEED_NOW),
            ))
            .build()
            .expect("the fuzz verifier builds")
    });
    // Static keys never wait, so the attempt is always finished.
    matches!(verifier.try_verify(text.trim_end()), Attempt::Done(Ok(_)))
}

/// The JWKS key lookup a request makes before its signature check (a lock-free load of the key
/// set, then a lookup by `kid`), alone: for the contention benchmark. True when an RS256 key
/// with this `kid` is held.
pub fn find_jwks_key(verifier: &Verifier, kid: &str) -> bool {
    verifier.finds_jwks_key(kid, Algorithm::RS256)
}
