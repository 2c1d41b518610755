//! Access tokens (signed JWTs) and refresh tokens (opaque random strings).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{aead, digest, hkdf};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::unix_seconds;
use crate::keys::live::{LiveKeyRing, RingSettings};
use crate::keys::{KeyError, PRIVATE_KEY_FILE};
use crate::secret::Secret;
use crate::time::seconds;

/// The JOSE `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Shortest HS256 secret accepted, in bytes (RFC 7518 3.2: at least the hash output size):
/// the verifier's own minimum, so a secret the issuer signs with is one every verifier accepts.
pub const MIN_SECRET_BYTES: usize = verifier_middleware::MIN_SECRET_BYTES;

/// The signing algorithm and its key material.
#[derive(Debug, Clone)]
pub enum SigningConfig {
    /// RS256 with the key ring in `KEYS_DIR`.
    Rs256,
    /// HS256 with a shared secret.
    Hs256 {
        /// The secret, at least [`MIN_SECRET_BYTES`] long.
        secret: Secret,
    },
}

/// What goes into issued tokens, and how long they and their sessions live.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss`, and the public base URL.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Session lifetime.
    pub refresh_token_ttl: Duration,
    /// Refresh grace window and idle expiry.
    pub sessions: SessionPolicy,
}

/// Refresh and clean-up rules of sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A used refresh token presented again within this window gets the same successor.
    pub reuse_grace: Duration,
    /// A session not refreshed for this long cannot refresh any more.
    pub idle_ttl: Option<Duration>,
    /// How often dead sessions are deleted.
    pub prune_interval: Duration,
}

/// Signs access tokens with the configured algorithm and publishes what verifiers need.
#[derive(Debug)]
pub enum Signer {
    /// RS256 with the key ring's current key.
    Rs256(Arc<LiveKeyRing>),
    /// HS256 with a shared secret, which is never published. A key ring in `KEYS_DIR` is
    /// published all the same (it does not sign), so that verifiers can hold the RSA keys
    /// before the switch to RS256.
    Hs256 {
        /// The secret.
        key: HmacKey,
        /// RSA keys published ahead of a migration to RS256.
        ring: Arc<LiveKeyRing>,
    },
}

/// An HS256 secret as a signing key; `Debug` shows nothing of it.
pub struct HmacKey(EncodingKey);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// Signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Inside the JWT library.
    #[error("cannot sign access token: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// The key ring has no current key (its files were changed by hand).
    #[error("cannot sign access token: no key in {} may sign now", .0.display())]
    NoSigningKey(PathBuf),
    /// The header or the claims could not be serialised.
    #[error("cannot sign access token: {0}")]
    Json(#[from] serde_json::Error),
    /// aws-lc failed to make the RSA signature.
    #[error("cannot sign access token: RSA signing failed")]
    Rsa,
}

impl Signer {
    /// Loads key material as configured, as of `now`. In RS256 mode a key must be able to
    /// sign now.
    ///
    /// # Errors
    /// Keys that cannot be loaded, or none that may sign.
    pub fn load(
        signing: &SigningConfig,
        settings: RingSettings,
        now: i64,
    ) -> Result<Self, KeyError> {
        let ring = Arc::new(LiveKeyRing::load(settings, now)?);
        Ok(match signing {
            SigningConfig::Rs256 => {
                if ring.snapshot().signing_key(now).is_none() {
                    let dir = ring.dir().to_owned();
                    return Err(if ring.snapshot().is_empty() {
                        KeyError::Missing(dir.join(PRIVATE_KEY_FILE))
                    } else {
                        KeyError::NoSigningKey(dir)
                    });
                }
                Self::Rs256(ring)
            }
            SigningConfig::Hs256 { secret } => Self::Hs256 {
                key: HmacKey(EncodingKey::from_secret(secret.expose().as_bytes())),
                ring,
            },
        })
    }

    /// The JWS algorithm of every token this signer makes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rs256(_) => Algorithm::RS256,
            Self::Hs256 { .. } => Algorithm::HS256,
        }
    }

    /// The key ring (published in both modes; signing in RS256 mode).
    pub fn ring(&self) -> &Arc<LiveKeyRing> {
        match self {
            Self::Rs256(ring) | Self::Hs256 { ring, .. } => ring,
        }
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ: "at+jwt", kid}`, with the key
    /// that is current at the token's `iat`.
    ///
    /// RS256 tokens are assembled here, exactly as `jsonwebtoken::encode` assembles them
    /// (base64url of each part's `serde_json` bytes), and signed with the key parsed when it
    /// was loaded (see [`crate::keys`]); HS256 goes through `jsonwebtoken`.
    ///
    /// # Errors
    /// No key may sign, or serialisation or the crypto library failed.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let mut header = Header::new(self.algorithm());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        match self {
            Self::Rs256(ring) => {
                let ring = ring.snapshot();
                let rsa = ring
                    .signing_key(claims.iat)
                    .ok_or_else(|| SignError::NoSigningKey(self.ring().dir().to_owned()))?;
                header.kid = Some(rsa.kid().to_owned());
                let mut token = String::with_capacity(1024);
                URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&header)?, &mut token);
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
                let signature = rsa
                    .sign_rs256(token.as_bytes())
                    .map_err(|_| SignError::Rsa)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, &mut token);
                Ok(token)
            }
            Self::Hs256 {
                key: HmacKey(key), ..
            } => Ok(jsonwebtoken::encode(&header, claims, key)?),
        }
    }

    /// The public keys verifiers may use at `now`: the ring's next, current and retired keys.
    /// A secret is never published.
    pub fn jwks(&self, now: i64) -> JwkSet {
        JwkSet {
            keys: self
                .ring()
                .snapshot()
                .published(now)
                .map(|key| key.jwk().clone())
                .collect(),
        }
    }

    /// The PEM of the key that signs at `now`; `None` in HS256 mode.
    pub fn public_pem(&self, now: i64) -> Option<String> {
        match self {
            Self::Rs256(ring) => ring
                .snapshot()
                .signing_key(now)
                .map(|key| key.public_pem().to_owned()),
            Self::Hs256 { .. } => None,
        }
    }

    /// The PEM of the published key `kid` at `now`.
    pub fn public_pem_of(&self, kid: &str, now: i64) -> Option<String> {
        self.ring()
            .snapshot()
            .published_key(kid, now)
            .map(|key| key.public_pem().to_owned())
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
    /// The user's e-mail address; absent for a user who logs in by phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's phone number in E.164 form (the OpenID Connect claim); absent for a user who
    /// logs in by e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
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
    /// E-mail address, if the user has one.
    pub email: Option<&'a str>,
    /// Phone number (E.164), if the user has one.
    pub phone_number: Option<&'a str>,
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
            exp: iat.saturating_add(seconds(ttl)),
            iat,
            nbf: iat,
            jti: Uuid::now_v7().to_string(),
            sid: subject.session_id.to_string(),
            email: subject.email.map(str::to_owned),
            phone_number: subject.phone_number.map(str::to_owned),
            role: subject.role.to_owned(),
            token_type: "access".to_owned(),
        }
    }
}

/// A new opaque token (a refresh token, or the token of a password-reset or verification mail):
/// 256 random bits, base64url. Only its [`opaque_token_hash`] is stored.
pub fn new_opaque_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of an opaque token. A plain SHA-256 suffices: the token has 256 bits of
/// entropy, so there is nothing to brute-force, and lookups stay a single indexed read.
pub fn opaque_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Length of an opaque token as issued (32 bytes in unpadded base64url); anything else is
/// refused without a database lookup.
pub const OPAQUE_TOKEN_LEN: usize = 43;

/// Sealing or opening a successor failed: a bug or corrupt data, never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("cannot {0} the successor refresh token")]
pub struct SealError(&'static str);

const SEAL_INFO: &[u8] = b"issuer refresh-token successor v1";
const NONCE_LEN: usize = 12;

/// The key that seals a token's successor: derived from the token itself (HKDF-SHA256), so only
/// a holder of the token can open it. The database holds a plain SHA-256 of the token, from
/// which this key cannot be computed.
fn sealing_key(token: &str) -> Result<aead::LessSafeKey, SealError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(token.as_bytes());
    let okm = prk
        .expand(&[SEAL_INFO], &aead::AES_256_GCM)
        .map_err(|_| SealError("derive a key for"))?;
    Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
}

/// Encrypts `successor` (AES-256-GCM) under a key derived from `token`, bound to the session.
/// Stored with the used token, it lets a concurrent duplicate of `token` receive the same
/// successor during the grace window, without the database ever holding a usable token.
pub fn seal_successor(token: &str, successor: &str, session_id: Uuid) -> Result<String, SealError> {
    let key = sealing_key(token)?;
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut sealed = successor.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce_bytes),
        aead::Aad::from(session_id.as_bytes()),
        &mut sealed,
    )
    .map_err(|_| SealError("seal"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&sealed);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Opens what [`seal_successor`] sealed, given the same token and session.
pub fn open_successor(token: &str, sealed: &str, session_id: Uuid) -> Result<String, SealError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SealError("decode"))?;
    let (nonce, ciphertext) = bytes
        .split_at_checked(NONCE_LEN)
        .ok_or(SealError("decode"))?;
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError("decode"))?;
    let mut in_out = ciphertext.to_vec();
    let plain = sealing_key(token)?
        .open_in_place(nonce, aead::Aad::from(session_id.as_bytes()), &mut in_out)
        .map_err(|_| SealError("open"))?;
    String::from_utf8(plain.to_vec()).map_err(|_| SealError("decode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_successor_opens_only_with_its_token_and_session() {
        let (token, successor, sid) = (new_opaque_token(), new_opaque_token(), Uuid::now_v7());
        let sealed = seal_successor(&token, &successor, sid).unwrap();
        assert!(!sealed.contains(&successor));
        assert_eq!(open_successor(&token, &sealed, sid).unwrap(), successor);
        assert!(open_successor(&new_opaque_token(), &sealed, sid).is_err());
        assert!(open_successor(&token, &sealed, Uuid::now_v7()).is_err());
        assert!(open_successor(&opaque_token_hash(&token), &sealed, sid).is_err());
        assert!(open_successor(&token, "AAAA", sid).is_err());
    }

    #[test]
    fn a_signers_debug_output_shows_no_secret_and_no_private_key() {
        let dir = tempfile::TempDir::new().unwrap();
        let written = crate::keys::generate(dir.path(), false).unwrap();
        let pem = std::fs::read_to_string(written.private_path).unwrap();
        let secret = "an-hs256-secret-of-at-least-32-bytes!";
        let settings = RingSettings::for_tests(dir.path());
        let hs256 = SigningConfig::Hs256 {
            secret: Secret::new(secret.to_owned()),
        };

        let shown = [
            format!(
                "{:?}",
                Signer::load(&SigningConfig::Rs256, settings.clone(), 0).unwrap()
            ),
            format!("{:?}", Signer::load(&hs256, settings, 0).unwrap()),
        ];

        let body = pem.lines().nth(1).unwrap();
        // As text, and as the list of numbers `Debug` prints for bytes.
        let body_as_bytes = format!("{:?}", body.as_bytes());
        let body_as_bytes = body_as_bytes.trim_matches(['[', ']']);
        for shown in shown {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(body), "{shown}");
            assert!(!shown.contains(body_as_bytes), "{shown}");
        }
    }

    #[test]
    fn rs256_tokens_are_byte_for_byte_those_jsonwebtoken_signs() {
        let dir = tempfile::TempDir::new().unwrap();
        let written = crate::keys::generate(dir.path(), false).unwrap();
        let settings = RingSettings::for_tests(dir.path());
        let signer = Signer::load(&SigningConfig::Rs256, settings, 0).unwrap();
        let subject = Subject {
            user_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            email: Some("alice@example.com"),
            phone_number: None,
            role: "user",
        };
        let claims = AccessClaims::new(
            &subject,
            "https://issuer.test",
            "api",
            SystemTime::now(),
            Duration::from_secs(900),
        );
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(
            crate::keys::RsaSigningKey::load(dir.path())
                .unwrap()
                .kid()
                .to_owned(),
        );
        let pem = std::fs::read(written.private_path).unwrap();
        let key = EncodingKey::from_rsa_pem(&pem).unwrap();

        let token = signer.sign(&claims).unwrap();

        assert_eq!(token, jsonwebtoken::encode(&header, &claims, &key).unwrap());
    }

    #[test]
    fn refresh_tokens_have_the_documented_length() {
        assert_eq!(new_opaque_token().len(), OPAQUE_TOKEN_LEN);
    }

    #[test]
    fn refresh_tokens_carry_256_bits() {
        let token = new_opaque_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
    }

    #[test]
    fn refresh_tokens_differ() {
        assert_ne!(new_opaque_token(), new_opaque_token());
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let token = new_opaque_token();
        assert_ne!(opaque_token_hash(&token), token);
        assert_eq!(opaque_token_hash(&token), opaque_token_hash(&token));
    }
}
