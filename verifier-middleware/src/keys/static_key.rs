//! A static RSA public key given to the builder (PEM or JWK), read into a key set once, when
//! the verifier is built.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

use super::jwk::parse_jwk;
use super::{KeySet, VerifyingKey};
use crate::build_error::BuildError;

/// An RSA public key as configured, not yet read.
#[derive(Debug, Clone)]
pub(crate) enum StaticRsaKey {
    /// `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM.
    Pem(Vec<u8>),
    /// A JWK, as JSON text.
    Jwk(String),
}

impl StaticRsaKey {
    /// The key set holding this one key, pinned to `algorithms` (narrowed to a JWK's own `alg`).
    pub(crate) fn key_set(self, algorithms: &Arc<[Algorithm]>) -> Result<KeySet, BuildError> {
        let key = match self {
            Self::Pem(pem) => {
                let pem = std::str::from_utf8(&pem)
                    .map_err(|_| BuildError::InvalidKey("the PEM is not text".into()))?;
                let public = RsaPublicKey::from_public_key_pem(pem)
                    .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
                    .map_err(|_| {
                        BuildError::InvalidKey(
                            "not an RSA public key in PEM (PUBLIC KEY or RSA PUBLIC KEY)".into(),
                        )
                    })?;
                VerifyingKey::rsa(
                    None,
                    &public.n().to_bytes_be(),
                    &public.e().to_bytes_be(),
                    Arc::clone(algorithms),
                )
            }
            Self::Jwk(json) => {
                let jwk: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|_| BuildError::InvalidKey("the JWK is not JSON".into()))?;
                parse_jwk(&jwk, algorithms)
            }
        }
        .map_err(|e| BuildError::InvalidKey(e.to_string()))?;
        let mut set = KeySet::default();
        set.insert(key)
            .map_err(|e| BuildError::InvalidKey(e.to_string()))?;
        Ok(set)
    }
}
