//! One RSA signing key, parsed once: its kid, its RS256 signatures and what is published of it.

use std::path::Path;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::key_file::read_key_file;
use super::{KeyError, KeyFileAccess, PRIVATE_KEY_FILE};

/// Smallest modulus accepted, in bits: the smallest key verifiers built with
/// `verifier-middleware` accept, so the issuer never signs with a key they would refuse.
pub const MIN_RSA_BITS: usize = verifier_middleware::MIN_RSA_BITS;

/// An RSA signing key with everything derived from it that the issuer publishes.
pub struct RsaSigningKey {
    kid: String,
    /// The private key, parsed once.
    key_pair: RsaKeyPair,
    jwk: Jwk,
    public_pem: String,
    file_access: KeyFileAccess,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigningKey {
    /// Loads `private.pem` from `keys_dir`.
    pub fn load(keys_dir: &Path) -> Result<Self, KeyError> {
        Self::load_file(&keys_dir.join(PRIVATE_KEY_FILE))
    }

    /// Loads a private key file (PEM, PKCS#1 or PKCS#8). A file other users may read or write
    /// is refused (see [`KeyFileAccess`]).
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let (pem, file_access) = read_key_file(path)?;
        Self::from_pem(&pem, path, file_access)
    }

    /// Parses a private key; `path` only names it in errors.
    fn from_pem(pem: &str, path: &Path, file_access: KeyFileAccess) -> Result<Self, KeyError> {
        let path = path.to_owned();
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| KeyError::NotAnRsaKey(path.clone()))?;
        let bits = private.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::TooSmall { path, bits });
        }
        // The DER `jsonwebtoken` would sign with, parsed the way its aws-lc backend parses it.
        let key_pair = EncodingKey::from_rsa_pem(pem.as_bytes())
            .ok()
            .and_then(|encoding| RsaKeyPair::from_der(encoding.as_bytes()).ok())
            .ok_or_else(|| KeyError::NotAnRsaKey(path.clone()))?;
        let public = private.to_public_key();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let jwk = public_jwk(&public);
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        Ok(Self {
            kid,
            key_pair,
            jwk,
            public_pem,
            file_access,
        })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RS256 signature (RSA PKCS#1 v1.5 with SHA-256) of `message`, as `jsonwebtoken`
    /// would make it with this key: the scheme is deterministic, so byte for byte the same.
    ///
    /// # Errors
    /// Only if aws-lc fails inside.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        // PKCS#1 v1.5 draws no randomness; aws-lc's API asks for a source all the same.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
        Ok(signature)
    }

    /// The public key as a JWK (`kty n e kid use alg`), nothing private.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Who besides its owner could access the file when it was read.
    pub fn file_access(&self) -> KeyFileAccess {
        self.file_access
    }
}

/// The public JWK of `public`, with its thumbprint as `kid`.
fn public_jwk(public: &RsaPublicKey) -> Jwk {
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::RS256),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    };
    // An RSA JWK always has a thumbprint; only EC/OKP variants can fail.
    jwk.common.key_id = jwk.thumbprint(ThumbprintHash::SHA256).ok();
    jwk
}
