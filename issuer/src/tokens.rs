//! Access tokens (signed JWTs) and refresh tokens (opaque random strings).

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::unix_seconds;
use crate::config::SigningConfig;
use crate::keys::{KeyError, RsaSigningKey};

/// The JOSE `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Signs access tokens with the configured algorithm and publishes what verifiers need.
#[derive(Debug)]
pub enum Signer {
    /// RS256 with one RSA key.
    Rs256(Box<RsaSigningKey>),
    /// HS256 with a shared secret; nothing is published.
    Hs256(HmacKey),
}

/// An HS256 secret as a signing key; `Debug` shows nothing of it.
pub struct HmacKey(EncodingKey);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// Signing failed inside the JWT library.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign access token: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

impl Signer {
    /// Loads key material as configured.
    pub fn from_config(signing: &SigningConfig) -> Result<Self, KeyError> {
        Ok(match signing {
            SigningConfig::Rs256 { keys_dir } => {
                Self::Rs256(Box::new(RsaSigningKey::load(keys_dir)?))
            }
            SigningConfig::Hs256 { secret } => Self::Hs256(HmacKey(EncodingKey::from_secret(
                secret.expose().as_bytes(),
            ))),
        })
    }

    /// The JWS algorithm of every token this signer makes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rs256(_) => Algorithm::RS256,
            Self::Hs256(_) => Algorithm::HS256,
        }
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ: "at+jwt", kid}`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let mut header = Header::new(self.algorithm());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        let key = match self {
            Self::Rs256(rsa) => {
                header.kid = Some(rsa.kid().to_owned());
                rsa.encoding_key()
            }
            Self::Hs256(HmacKey(key)) => key,
        };
        Ok(jsonwebtoken::encode(&header, claims, key)?)
    }

    /// The public keys verifiers may use; empty in HS256 mode (a secret is never published).
    pub fn jwks(&self) -> JwkSet {
        match self {
            Self::Rs256(rsa) => JwkSet {
                keys: vec![rsa.jwk().clone()],
            },
            Self::Hs256(_) => JwkSet { keys: Vec::new() },
        }
    }

    /// The current public key as PEM; `None` in HS256 mode.
    pub fn public_pem(&self) -> Option<&str> {
        match self {
            Self::Rs256(rsa) => Some(rsa.public_pem()),
            Self::Hs256(_) => None,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// Session id.
    pub sid: String,
    /// The user's e-mail address.
    pub email: String,
    /// The user's role.
    pub role: String,
    /// Always `"access"`, so a verifier can refuse any other kind of token.
    #[serde(rename = "type")]
    pub token_type: String,
}

/// Who an access token is for; the rest of the claims come from configuration and the clock.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// User id.
    pub user_id: Uuid,
    /// Session id.
    pub session_id: Uuid,
    /// E-mail address.
    pub email: &'a str,
    /// Role.
    pub role: &'a str,
}

impl AccessClaims {
    /// Claims for a token issued `now` that lives for `ttl`.
    pub fn new(
        subject: &Subject<'_>,
        iss: &str,
        aud: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Self {
        let iat = unix_seconds(now);
        Self {
            iss: iss.to_owned(),
            sub: subject.user_id.to_string(),
            aud: aud.to_owned(),
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iat,
            nbf: iat,
            jti: Uuid::now_v7().to_string(),
            sid: subject.session_id.to_string(),
            email: subject.email.to_owned(),
            role: subject.role.to_owned(),
            token_type: "access".to_owned(),
        }
    }
}

/// A new refresh token: 256 random bits, base64url. Only its [`refresh_token_hash`] is stored.
pub fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token. A plain SHA-256 suffices: the token has 256 bits of
/// entropy, so there is nothing to brute-force, and lookups stay a single indexed read.
pub fn refresh_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_carry_256_bits() {
        let token = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
    }

    #[test]
    fn refresh_tokens_differ() {
        assert_ne!(new_refresh_token(), new_refresh_token());
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let token = new_refresh_token();
        assert_ne!(refresh_token_hash(&token), token);
        assert_eq!(refresh_token_hash(&token), refresh_token_hash(&token));
    }
}
