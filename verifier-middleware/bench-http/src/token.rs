//! The signing key, its JWKS and access tokens shaped like the issuer's.

use std::error::Error;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use uuid::Uuid;

/// The `iss` of every token, and what both verifiers require.
pub(crate) const ISSUER: &str = "http://localhost:3000";
/// The `aud` of every token, and what both verifiers require.
pub(crate) const AUDIENCE: &str = "api";
/// How long tokens live: longer than any benchmark run.
const TOKEN_TTL_SECONDS: i64 = 3600;

/// An RSA private key with its public JWK, whose RFC 7638 thumbprint is the `kid` (as the
/// issuer does).
pub(crate) struct SigningKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

/// The issuer's access-token claims (`issuer/src/tokens.rs`), in the same order.
#[derive(Serialize)]
struct AccessClaims {
    iss: &'static str,
    sub: String,
    aud: &'static str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    sid: String,
    email: String,
    role: &'static str,
    #[serde(rename = "type")]
    token_type: &'static str,
}

impl SigningKey {
    /// Reads an RSA private key (PEM, PKCS#1 or PKCS#8).
    pub(crate) fn from_pem_file(path: &Path) -> Result<Self, Box<dyn Error>> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let encoding = EncodingKey::from_rsa_pem(&pem)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256)?);
        Ok(Self { encoding, jwk })
    }

    /// `{"keys": [the public key]}`, as `GET /.well-known/jwks.json` serves it.
    pub(crate) fn jwks_json(&self) -> String {
        let set = JwkSet {
            keys: vec![self.jwk.clone()],
        };
        serde_json::to_string(&set).expect("a JWK set always serialises")
    }

    /// A new RS256 access token for user number `n`, valid for an hour from now, with its own
    /// `sub`, `sid` and `jti`, so every call gives a distinct token.
    pub(crate) fn token(&self, n: usize) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".to_owned());
        header.kid.clone_from(&self.jwk.common.key_id);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let claims = AccessClaims {
            iss: ISSUER,
            sub: Uuid::now_v7().to_string(),
            aud: AUDIENCE,
            exp: now + TOKEN_TTL_SECONDS,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            sid: Uuid::now_v7().to_string(),
            email: format!("user{n}@example.com"),
            role: "user",
            token_type: "access",
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }
}
