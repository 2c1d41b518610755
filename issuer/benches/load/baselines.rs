//! The bare operations each endpoint cannot go faster than, run at the same concurrency, on the
//! same runtime, through the same driver as the HTTP phases.
//!
//! - **argon2id verify** of a stored hash made by the issuer's own hasher (so with exactly its
//!   parameters, m = 19 MiB, t = 2, p = 1): what a successful login computes. A login verifies
//!   a hash; it never creates one. It runs the way the issuer runs it: a semaphore with the
//!   issuer's `PASSWORD_HASH_CONCURRENCY` permits, then `spawn_blocking`.
//! - **RSA-2048 sign through `jsonwebtoken::encode`** (aws_lc_rs backend), of the issuer's header
//!   and a claims set shaped like its access tokens, on a runtime worker thread like a handler.
//!   `jsonwebtoken` parses the DER key on every call (and aws-lc then sets the fresh key up).
//! - **The same signature with the key parsed once**: aws-lc's `RsaKeyPair::sign` of the same
//!   signing input, checked to give the same bytes. This is what the issuer's `Signer` does,
//!   and the least a token can cost.
//! - The issuer's **`Signer::sign`**: fresh claims, the key ring lookup, the header, the JWS.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm as Argon2Algorithm, Argon2, Params, Version};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use issuer::config::Config;
use issuer::domain::Password;
use issuer::keys::RsaSigningKey;
use issuer::passwords::{ITERATIONS, MEMORY_KIB, PARALLELISM, PasswordHashing, QueuePolicy};
use issuer::tokens::SigningConfig;
use issuer::tokens::{ACCESS_TOKEN_TYP, AccessClaims, Signer, Subject};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::server::PASSWORD;

/// The argon2id verification a login runs, shaped like the issuer runs it.
pub(crate) struct Argon2Verify {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    stored: Arc<str>,
}

impl Argon2Verify {
    /// A stored hash of the bench password made by the issuer's hasher, and a verifier with
    /// its parameters and `permits` concurrent hashes.
    pub(crate) async fn new(permits: usize) -> Arc<Self> {
        let hashing = PasswordHashing::new(QueuePolicy::unlimited(permits)).expect("issuer hasher");
        let password = Password::parse(PASSWORD.to_owned()).expect("bench password is valid");
        let admission = hashing.admit().expect("an unlimited queue admits");
        let stored = admission.hash(password).await.expect("hash");
        let expected = format!("$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}$");
        assert!(stored.starts_with(&expected), "{stored}");
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("params");
        Arc::new(Self {
            argon2: Argon2::new(Argon2Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(permits.max(1))),
            stored: stored.into(),
        })
    }
}

/// One verification of the right password: wait for a permit, then hash on the blocking pool.
pub(crate) async fn argon2_verify(
    state: Arc<Argon2Verify>,
) -> (Arc<Argon2Verify>, Result<(), String>) {
    let outcome = async {
        let permit = Arc::clone(&state.permits)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let argon2 = state.argon2.clone();
        let stored = Arc::clone(&state.stored);
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
            Ok::<_, String>(argon2.verify_password(PASSWORD.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| e.to_string())??;
        if matched {
            Ok(())
        } else {
            Err("the password did not verify".to_owned())
        }
    }
    .await;
    (state, outcome)
}

/// Everything the signing baselines need, built once.
pub(crate) struct Signing {
    header: Header,
    claims: AccessClaims,
    encoding: EncodingKey,
    key_pair: RsaKeyPair,
    rng: SystemRandom,
    signing_input: Vec<u8>,
    signer: Signer,
    config: Config,
    subject: (Uuid, Uuid),
}

impl Signing {
    /// The issuer's key in `keys_dir`, its header (`alg`, `typ: at+jwt`, `kid`) and an access
    /// token's claims; `config` gives the issuer's key ring settings, `aud` and TTL.
    pub(crate) fn new(keys_dir: &Path, config: Config) -> Arc<Self> {
        let key = RsaSigningKey::load(keys_dir).expect("bench key");
        let pem = std::fs::read(keys_dir.join(issuer::keys::PRIVATE_KEY_FILE)).expect("pem");
        let encoding = EncodingKey::from_rsa_pem(&pem).expect("RSA PEM");
        let key_pair = RsaKeyPair::from_der(encoding.as_bytes()).expect("RSA DER");
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid().to_owned());
        let subject = (Uuid::now_v7(), Uuid::now_v7());
        let claims = claims(&config, subject, SystemTime::now());
        let signing_input = format!("{}.{}", segment(&header), segment(&claims)).into_bytes();
        let now = issuer::clock::unix_seconds(SystemTime::now());
        let signer = Signer::load(&SigningConfig::Rs256, config.keys.clone(), now).expect("signer");
        let fixture = Self {
            header,
            claims,
            encoding,
            key_pair,
            rng: SystemRandom::new(),
            signing_input,
            signer,
            config,
            subject,
        };
        fixture.check_equivalence();
        Arc::new(fixture)
    }

    /// RSA PKCS#1 v1.5 is deterministic: the key-parsed-once signature must equal the one in
    /// `jsonwebtoken`'s token, byte for byte, or the two rows would not measure the same work.
    fn check_equivalence(&self) {
        let token = jsonwebtoken::encode(&self.header, &self.claims, &self.encoding).expect("sign");
        let (input, signature) = token.rsplit_once('.').expect("a compact JWS");
        assert_eq!(input.as_bytes(), self.signing_input, "same signing input");
        assert_eq!(
            signature,
            URL_SAFE_NO_PAD.encode(self.sign_parsed()),
            "same signature"
        );
    }

    fn sign_parsed(&self) -> Vec<u8> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                &self.signing_input,
                &mut signature,
            )
            .expect("sign");
        signature
    }
}

/// Claims like the issuer's access tokens, issued `now`.
fn claims(config: &Config, (user, session): (Uuid, Uuid), now: SystemTime) -> AccessClaims {
    let subject = Subject {
        user_id: user,
        session_id: session,
        email: Some("bench-0@example.com"),
        phone_number: None,
        role: "user",
    };
    AccessClaims::new(
        &subject,
        &config.tokens.issuer,
        &config.tokens.audience,
        now,
        config.tokens.access_token_ttl,
    )
}

/// A JWS segment: base64url of the JSON of `value`.
fn segment(value: &impl serde::Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// `jsonwebtoken::encode` of the fixed header and claims: the bare sign, as the issuer calls it.
pub(crate) async fn jsonwebtoken_encode(state: Arc<Signing>) -> (Arc<Signing>, Result<(), String>) {
    let outcome = jsonwebtoken::encode(&state.header, &state.claims, &state.encoding)
        .map(|token| drop(black_box(token)))
        .map_err(|e| e.to_string());
    (state, outcome)
}

/// aws-lc's RSA-2048 PKCS#1 v1.5 SHA-256 signature of the same signing input, key parsed once.
pub(crate) async fn parsed_key_sign(state: Arc<Signing>) -> (Arc<Signing>, Result<(), String>) {
    black_box(state.sign_parsed());
    (state, Ok(()))
}

/// The issuer's `Signer::sign` of fresh claims (what a refresh does between its database calls).
pub(crate) async fn issuer_signer(state: Arc<Signing>) -> (Arc<Signing>, Result<(), String>) {
    let claims = claims(&state.config, state.subject, SystemTime::now());
    let outcome = state
        .signer
        .sign(&claims)
        .map(|token| drop(black_box(token)))
        .map_err(|e| e.to_string());
    (state, outcome)
}

/// How long one argon2id verification takes alone, on this thread (for the notes).
pub(crate) fn one_verification(state: &Argon2Verify) -> Duration {
    let parsed = PasswordHash::new(&state.stored).expect("stored hash");
    let started = std::time::Instant::now();
    let matched = state
        .argon2
        .verify_password(PASSWORD.as_bytes(), &parsed)
        .is_ok();
    assert!(matched);
    started.elapsed()
}
