//! Shared test parts: RSA keys, token minting, a real JWKS server and a real app, both on
//! port 0.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use verifier_middleware::clock::{ManualClock, unix_seconds};
use verifier_middleware::{
    JwtAuthLayer, Rejection, RequireRoleLayer, VerifiedClaims, Verifier, VerifierBuilder,
};

pub(crate) const ISSUER: &str = "https://issuer.test";
pub(crate) const AUDIENCE: &str = "api";
pub(crate) const SECRET: &str = "a shared secret that is long enough!!";

/// A key pair as an issuer would hold it: RSA ([`key`]) or a curve ([`curve_key`]).
pub(crate) struct TestKey {
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) public_pem: String,
    pub(crate) public_der: Vec<u8>,
    pub(crate) jwk: Value,
}

/// One of three fixed 2048-bit keys, generated once per test binary.
pub(crate) fn key(index: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|i| generate_key(&format!("key-{i}"), 2048))
            .collect()
    })[index]
}

pub(crate) fn generate_key(kid: &str, bits: usize) -> TestKey {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).expect("RSA key");
    let public = RsaPublicKey::from(&private);
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    TestKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        public_der: public.to_public_key_der().unwrap().as_bytes().to_vec(),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

/// A fresh key pair on the curve of `alg` (ES256: P-256, ES384: P-384, EdDSA: Ed25519), made
/// by aws-lc and signed with by jsonwebtoken, with its public JWK (naming `alg`) and PEM.
pub(crate) fn curve_key(kid: &str, alg: Algorithm) -> TestKey {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    let (public_der, encoding, jwk) = match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let (signing, crv) = if alg == Algorithm::ES256 {
                (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256")
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384")
            };
            let pair = EcdsaKeyPair::generate(signing).unwrap();
            let pkcs8 = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            let jwk = json!({
                "kty": "EC", "crv": crv, "use": "sig", "alg": alg, "kid": kid,
                "x": b64(&point[1..=half]), "y": b64(&point[1 + half..]),
            });
            let der = pair.public_key().as_der().unwrap().as_ref().to_vec();
            (der, EncodingKey::from_ec_der(&pkcs8), jwk)
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().unwrap();
            let pkcs8 = pair.to_pkcs8().unwrap().as_ref().to_vec();
            let jwk = json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": b64(pair.public_key().as_ref()),
            });
            let der = pair.public_key().as_der().unwrap().as_ref().to_vec();
            (der, EncodingKey::from_ed_der(&pkcs8), jwk)
        }
        other => panic!("{other:?} is not a curve algorithm"),
    };
    let body = base64::engine::general_purpose::STANDARD.encode(&public_der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    TestKey {
        kid: kid.to_owned(),
        encoding,
        public_pem: format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ),
        public_der,
        jwk,
    }
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs any header and payload, however hostile, as a compact JWS.
pub(crate) fn sign(header: &Value, payload: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg).unwrap();
    format!("{signing_input}.{signature}")
}

/// Claims the issuer would put in an access token at `now`.
pub(crate) fn claims_at(now: SystemTime) -> Value {
    let now = unix_seconds(now);
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now + 900, "iat": now,
        "nbf": now, "jti": "t-1", "sid": "s-1", "email": "alice@example.com", "role": "user",
        "type": "access",
    })
}

/// An RS256 access token from `key` at `now`, after `edit` changes its claims.
pub(crate) fn token_with(key: &TestKey, now: SystemTime, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = claims_at(now);
    edit(&mut claims);
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": key.kid });
    sign(&header, &claims, &key.encoding, Algorithm::RS256)
}

pub(crate) fn token(key: &TestKey, now: SystemTime) -> String {
    token_with(key, now, |_| {})
}

/// What the JWKS server does with the next requests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Serve,
    Fail(StatusCode),
    /// Waits for [`JwksServer::release`] before serving.
    Hang,
}

struct ServerState {
    jwks: Mutex<Value>,
    cache_control: Mutex<Option<String>>,
    mode: Mutex<Mode>,
    hits: watch::Sender<usize>,
    not_modified: watch::Sender<usize>,
    gate: Semaphore,
}

/// A real HTTP server publishing a JSON document (a JWKS, or a revocation list), counting its
/// requests and honouring `If-None-Match` against the `ETag` it sends.
pub(crate) struct JwksServer {
    pub(crate) url: String,
    state: Arc<ServerState>,
}

impl JwksServer {
    pub(crate) async fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(ServerState {
            jwks: Mutex::new(jwks(keys)),
            cache_control: Mutex::new(None),
            mode: Mutex::new(Mode::Serve),
            hits: watch::channel(0).0,
            not_modified: watch::channel(0).0,
            gate: Semaphore::new(0),
        });
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(Arc::clone(&state));
        let url = format!("{}/jwks.json", test_support::serve(app).await);
        Self { url, state }
    }

    pub(crate) fn set_keys(&self, keys: &[&TestKey]) {
        self.set_jwks(jwks(keys));
    }

    pub(crate) fn set_jwks(&self, document: Value) {
        *self.state.jwks.lock().unwrap() = document;
    }

    pub(crate) fn set_cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Lets every hanging request (and the next ones) through.
    pub(crate) fn release(&self) {
        self.state.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    pub(crate) fn hits(&self) -> usize {
        *self.state.hits.borrow()
    }

    /// Requests answered `304 Not Modified` (their `If-None-Match` matched).
    pub(crate) fn not_modified(&self) -> usize {
        *self.state.not_modified.borrow()
    }

    /// Waits until the server has received `count` requests.
    pub(crate) async fn wait_for_hits(&self, count: usize) {
        let mut hits = self.state.hits.subscribe();
        // A guard against a hung test, not a synchronisation: the condition is the hit count.
        tokio::time::timeout(
            Duration::from_secs(30),
            hits.wait_for(|hits| *hits >= count),
        )
        .await
        .unwrap_or_else(|_| panic!("the JWKS server never got {count} requests"))
        .unwrap();
    }
}

pub(crate) fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

async fn serve_jwks(State(state): State<Arc<ServerState>>, request: HeaderMap) -> Response {
    state.hits.send_modify(|hits| *hits += 1);
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Fail(status) => return status.into_response(),
        Mode::Hang => drop(state.gate.acquire().await.unwrap()),
        Mode::Serve => {}
    }
    let body = state.jwks.lock().unwrap().to_string();
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&body, &mut hasher);
    let etag = format!("\"{:x}\"", std::hash::Hasher::finish(&hasher));
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| *tag == *etag)
    {
        state.not_modified.send_modify(|n| *n += 1);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = state.cache_control.lock().unwrap().as_deref() {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
    }
    (headers, body).into_response()
}

/// A builder for the usual configuration, with the test's clock.
pub(crate) fn builder(clock: &ManualClock) -> VerifierBuilder {
    Verifier::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(clock.clone())
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::new(SystemTime::now())
}

/// A real app on port 0: `/any` needs a valid token, `/user` also role `user`.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    /// Requests that reached the verification layer so far.
    arrived: watch::Receiver<usize>,
}

async fn whoami(claims: VerifiedClaims) -> String {
    claims.subject().unwrap_or("-").to_owned()
}

impl TestApp {
    pub(crate) async fn start(verifier: &Verifier) -> Self {
        Self::start_with(verifier.layer()).await
    }

    /// The same app behind `layer` (its verifier and token sources).
    pub(crate) async fn start_with(layer: JwtAuthLayer) -> Self {
        let (arrived_tx, arrived) = watch::channel(0);
        let arrived_tx = Arc::new(arrived_tx);
        let count = middleware::from_fn(move |request: Request, next: Next| {
            arrived_tx.send_modify(|n| *n += 1);
            next.run(request)
        });
        let app = Router::new()
            .route("/any", get(whoami))
            .route(
                "/user",
                get(whoami).layer(RequireRoleLayer::any_of(["user"])),
            )
            .layer(layer)
            .layer(count);
        let base = test_support::serve(app).await;
        Self {
            base,
            client: reqwest::Client::new(),
            arrived,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Waits until `count` requests have reached the layer.
    pub(crate) async fn wait_for_arrivals(&self, count: usize) {
        let mut arrived = self.arrived.clone();
        arrived.wait_for(|n| *n >= count).await.unwrap();
    }
}

/// Asserts a 401 `invalid_token` with `description`, in the header and the JSON body.
pub(crate) async fn assert_invalid_token(response: reqwest::Response, description: &str) {
    assert_eq!(response.status(), 401, "expected 401 for: {description}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "invalid_token", "error_description": description })
    );
}

/// Verifies `token` until it is refused, and returns why. A background refresh lands shortly
/// after its download; verifying again is the only signal a caller has, so this retries on the
/// condition (bounded by the number of attempts).
pub(crate) async fn wait_until_refused(verifier: &Verifier, token: &str) -> Rejection {
    for _ in 0..10_000 {
        match verifier.verify(token).await {
            Err(rejection) => return rejection,
            Ok(_) => tokio::task::yield_now().await,
        }
    }
    panic!("the token kept verifying");
}
