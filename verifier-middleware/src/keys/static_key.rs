//! A static public key given to the builder (PEM or JWK), read into a key set once, when the
//! verifier is built.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::pkcs8::der::Document;
use rsa::traits::PublicKeyParts;

use super::jwk::parse_jwk;
use super::{Curve, KeyRejected, KeySet, VerifyingKey};
use crate::build_error::BuildError;

/// A public key as configured, not yet read.
#[derive(Debug, Clone)]
pub(crate) enum StaticKey {
    /// `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, P-256, P-384 or Ed25519) or `RSA PUBLIC KEY`
    /// (PKCS#1) PEM.
    Pem(Vec<u8>),
    /// A JWK, as JSON text.
    Jwk(String),
}

impl StaticKey {
    /// The key set holding this one key, pinned to those of `algorithms` its kind verifies
    /// (narrowed to a JWK's own `alg`).
    pub(crate) fn key_set(self, algorithms: &Arc<[Algorithm]>) -> Result<KeySet, BuildError> {
        let invalid = |e: KeyRejected| BuildError::InvalidKey(e.to_string());
        let key = match self {
            Self::Pem(pem) => {
                let pem = std::str::from_utf8(&pem)
                    .map_err(|_| BuildError::InvalidKey("the PEM is not text".into()))?;
                pem_key(pem, algorithms)?.map_err(invalid)?
            }
            Self::Jwk(json) => {
                let jwk: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|_| BuildError::InvalidKey("the JWK is not JSON".into()))?;
                parse_jwk(&jwk, algorithms).map_err(invalid)?
            }
        };
        let mut set = KeySet::default();
        set.insert(key).map_err(invalid)?;
        Ok(set)
    }
}

/// Reads a PEM public key of any supported kind. The outer error: not a public key we read at
/// all; the inner one: a key of a known kind that is unacceptable (too small, no algorithm).
fn pem_key(
    pem: &str,
    algorithms: &[Algorithm],
) -> Result<Result<VerifyingKey, KeyRejected>, BuildError> {
    if let Ok(public) =
        RsaPublicKey::from_public_key_pem(pem).or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
    {
        return Ok(VerifyingKey::rsa(
            None,
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
            algorithms,
        ));
    }
    let not_a_key = || {
        BuildError::InvalidKey(
            "not a public key in PEM (PUBLIC KEY of an RSA, P-256, P-384 or Ed25519 key, or RSA PUBLIC KEY)"
                .into(),
        )
    };
    let (label, der) = Document::from_pem(pem).map_err(|_| not_a_key())?;
    if label != "PUBLIC KEY" {
        return Err(not_a_key());
    }
    // The first curve whose parser takes the SubjectPublicKeyInfo is the key's: each checks
    // the algorithm identifier and the curve named inside it.
    Curve::ALL
        .into_iter()
        .map(|curve| VerifyingKey::curve(None, curve, der.as_bytes(), algorithms))
        .find(|key| !matches!(key, Err(KeyRejected::Malformed(_))))
        .ok_or_else(not_a_key)
}
