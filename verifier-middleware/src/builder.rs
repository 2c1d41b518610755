//! [`VerifierBuilder`]: configuration that is checked once, when built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use reqwest::{Client, Url, redirect};
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

use crate::claims::ClaimRules;
use crate::clock::{Clock, SystemClock};
use crate::keys::jwks::{JwksCache, JwksSettings};
use crate::keys::{KeySet, VerifyingKey, parse_jwk};
use crate::revocation::{RevocationList, RevocationSettings};
use crate::token_cache::{TokenCache, TokenCacheSettings};
use crate::verifier::{Inner, RsaSource, Verifier};

/// The shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// The default leeway on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The largest leeway accepted: more would make short-lived tokens meaningless.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);
/// The default cap on a token's length, checked before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The RSA signature algorithms a key source may be pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default, and what the issuer signs with).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl From<RsaAlgorithm> for Algorithm {
    fn from(alg: RsaAlgorithm) -> Self {
        match alg {
            RsaAlgorithm::Rs256 => Self::RS256,
            RsaAlgorithm::Rs384 => Self::RS384,
            RsaAlgorithm::Rs512 => Self::RS512,
            RsaAlgorithm::Ps256 => Self::PS256,
            RsaAlgorithm::Ps384 => Self::PS384,
            RsaAlgorithm::Ps512 => Self::PS512,
        }
    }
}

/// Configuration the builder refuses. `Display` is one line saying what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a JWKS URL, an RSA key nor an HS256 secret was given.
    #[error("no key source: set a JWKS URL, an RSA public key or an HS256 secret")]
    NoKeySource,
    /// Both a JWKS URL and a static RSA key were given.
    #[error("both a JWKS URL and a static RSA key were given; choose one")]
    ConflictingRsaSources,
    /// The JWKS URL is not an absolute `http(s)` URL.
    #[error("invalid JWKS URL: {0}")]
    InvalidJwksUrl(String),
    /// The revocation list URL is not an absolute `http(s)` URL.
    #[error("invalid revocation list URL: {0}")]
    InvalidRevocationUrl(String),
    /// The RSA public key could not be read or is unacceptable.
    #[error("invalid RSA public key: {0}")]
    InvalidKey(String),
    /// The HS256 secret is too short.
    #[error("the HS256 secret is {0} bytes; use at least {MIN_SECRET_BYTES} random bytes")]
    WeakSecret(usize),
    /// An empty list of RSA algorithms.
    #[error("no RSA algorithms are allowed; keep the default (RS256) or list at least one")]
    NoAlgorithms,
    /// No issuer, and no explicit opt-out.
    #[error(
        "no issuer configured: call .issuer(..) with the expected iss, or .insecure_skip_issuer_check()"
    )]
    MissingIssuer,
    /// No audience, and no explicit opt-out.
    #[error(
        "no audience configured: call .audience(..) with the expected aud, or .insecure_skip_audience_check()"
    )]
    MissingAudience,
    /// A setting outside its bounds.
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The builder method.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    HttpClient(String),
}

/// An HS256 secret; never printed.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.0.len())
    }
}

#[derive(Debug, Clone)]
enum StaticRsaKey {
    Pem(Vec<u8>),
    Jwk(String),
}

/// An expectation on a claim, or an explicit decision not to check it.
#[derive(Debug, Clone, Default)]
enum Expectation<T> {
    #[default]
    Unset,
    Expect(T),
    SkipInsecure,
}

/// Configures a [`Verifier`]. Nothing is checked until [`build`](Self::build), which refuses
/// anything unsafe or inconsistent with one line saying what to change.
///
/// Key sources: one RSA source ([`jwks_url`](Self::jwks_url), or a static
/// [`rsa_public_key_pem`](Self::rsa_public_key_pem) / [`rsa_public_jwk`](Self::rsa_public_jwk)),
/// and/or an [`hs256_secret`](Self::hs256_secret). Each source verifies only its own algorithms
/// (RSA keys: [`rsa_algorithms`](Self::rsa_algorithms), RS256 by default; the secret: HS256),
/// so configuring both, e.g. while migrating from HS256 to RS256, cannot lead to algorithm
/// confusion. `none` is never accepted.
#[derive(Debug, Default)]
#[must_use]
pub struct VerifierBuilder {
    jwks_url: Option<String>,
    rsa_key: Option<StaticRsaKey>,
    hs256_secret: Option<Secret>,
    rsa_algorithms: Option<Vec<RsaAlgorithm>>,
    issuer: Expectation<String>,
    audiences: Expectation<Vec<String>>,
    leeway: Option<Duration>,
    max_token_bytes: Option<usize>,
    clock: Option<ClockBox>,
    http_client: Option<Client>,
    jwks: JwksSettings,
    revocation_url: Option<String>,
    revocation: RevocationSettings,
    token_cache: TokenCacheSettings,
}

struct ClockBox(Arc<dyn Clock>);

impl fmt::Debug for ClockBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

impl VerifierBuilder {
    /// Fetch RSA keys from this JWKS URL (`http` or `https`), cached as the crate docs
    /// describe. Requires a Tokio runtime when verifying.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Verify with this RSA public key, PEM-encoded (`PUBLIC KEY` or `RSA PUBLIC KEY`), e.g.
    /// the issuer's `/public-key`. Tokens may name any `kid`.
    pub fn rsa_public_key_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.rsa_key = Some(StaticRsaKey::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Verify with this RSA public key given as a JWK (JSON text). If it has a `kid`, tokens
    /// must name it or none.
    pub fn rsa_public_jwk(mut self, jwk: impl Into<String>) -> Self {
        self.rsa_key = Some(StaticRsaKey::Jwk(jwk.into()));
        self
    }

    /// Also (or only) verify HS256 tokens with this shared secret (at least 32 bytes).
    pub fn hs256_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.hs256_secret = Some(Secret(secret.as_ref().to_vec()));
        self
    }

    /// The algorithms RSA keys may verify; default RS256 only. A key whose JWK names its own
    /// `alg` verifies only that one.
    pub fn rsa_algorithms(mut self, algorithms: impl IntoIterator<Item = RsaAlgorithm>) -> Self {
        self.rsa_algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The `iss` tokens must carry, compared exactly.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Expectation::Expect(issuer.into());
        self
    }

    /// An `aud` tokens may carry (as a string or in an array); call again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        match &mut self.audiences {
            Expectation::Expect(audiences) => audiences.push(audience.into()),
            _ => self.audiences = Expectation::Expect(vec![audience.into()]),
        }
        self
    }

    /// Accept tokens from any issuer. Only safe when every key the verifier trusts belongs to
    /// one issuer; prefer [`issuer`](Self::issuer).
    pub fn insecure_skip_issuer_check(mut self) -> Self {
        self.issuer = Expectation::SkipInsecure;
        self
    }

    /// Accept tokens meant for any audience. A token the issuer minted for another service
    /// will then work here; prefer [`audience`](Self::audience).
    pub fn insecure_skip_audience_check(mut self) -> Self {
        self.audiences = Expectation::SkipInsecure;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`; default 60 s, at most 5 min.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Tokens longer than this are refused before parsing; default 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = Some(bytes);
        self
    }

    /// The clock used for claim times and cache lifetimes; tests pass a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(ClockBox(Arc::new(clock)));
        self
    }

    /// The HTTP client for JWKS downloads, e.g. one with a proxy or a private CA. The default
    /// one has a 5 s timeout and follows at most 3 redirects. Each download is also bounded by
    /// [`jwks_fetch_timeout`](Self::jwks_fetch_timeout).
    pub fn http_client(mut self, client: Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Key lifetime when the JWKS response has no `Cache-Control: max-age`; default 10 min.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.jwks.ttl = ttl;
        self
    }

    /// Bounds on the lifetime a server's `max-age` may set; default 1 min to 24 h.
    pub fn jwks_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.jwks.min_ttl = min;
        self.jwks.max_ttl = max;
        self
    }

    /// How long past their lifetime cached keys keep serving while the JWKS cannot be
    /// fetched; default 24 h. After that, requests get 503 until a fetch succeeds.
    pub fn jwks_max_stale(mut self, max_stale: Duration) -> Self {
        self.jwks.max_stale = max_stale;
        self
    }

    /// Minimum time between refetches caused by unknown `kid`s; default 30 s.
    pub fn jwks_unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks.unknown_kid_cooldown = cooldown;
        self
    }

    /// Timeout of one JWKS download; default 5 s.
    pub fn jwks_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.jwks.fetch_timeout = timeout;
        self
    }

    /// Largest JWKS response read; default 256 KiB.
    pub fn jwks_max_response_bytes(mut self, bytes: usize) -> Self {
        self.jwks.max_response_bytes = bytes;
        self
    }

    /// Retry delays after failed downloads: `first`, doubling up to `max`; default 1 s to
    /// 5 min.
    pub fn jwks_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.jwks.retry_base = first;
        self.jwks.retry_max = max;
        self
    }

    /// Poll the issuer's revocation list at this URL (`http` or `https`; the `issuer` crate
    /// serves it at `/revoked-sessions`) and refuse tokens whose `sid` is on it, with 401
    /// `invalid_token` "the token's session has ended". Off by default. The bound: while the
    /// issuer answers, a logout is enforced within [`revocation_poll_interval`](Self::revocation_poll_interval)
    /// plus one download; during an outage the last list keeps applying. Downloads use the
    /// `jwks_fetch_timeout` and `jwks_retry_backoff` settings.
    pub fn revocation_list_url(mut self, url: impl Into<String>) -> Self {
        self.revocation_url = Some(url.into());
        self
    }

    /// How old the revocation list may be when a token is checked against it; default 30 s,
    /// at least 1 s.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.revocation.poll_interval = interval;
        self
    }

    /// Largest revocation list response read; default 4 MiB (about 100 000 session ids).
    pub fn revocation_max_response_bytes(mut self, bytes: usize) -> Self {
        self.revocation.max_response_bytes = bytes;
        self
    }

    /// How many verified tokens the cache holds at most; default 10 000, at least 1.
    ///
    /// The verified-token cache is on by default: a token accepted once is accepted again
    /// without the signature check or JSON parsing (about 30 µs for RS256) until its `exp`, at
    /// most [`token_cache_max_lifetime`](Self::token_cache_max_lifetime). Its `exp`, `nbf`
    /// and `iat` are checked again on every request, its session against the revocation list
    /// too, and the whole cache is flushed when the keys or the revocation list change. The
    /// key is the whole token. Only accepted tokens are cached.
    pub fn token_cache_max_entries(mut self, entries: u64) -> Self {
        self.token_cache.max_entries = entries;
        self
    }

    /// How much memory the cache may use, estimated as three times each token's length plus
    /// 256 bytes (the token, its parsed claims, bookkeeping); default 32 MiB, at least 64 KiB.
    /// Whichever of this and [`token_cache_max_entries`](Self::token_cache_max_entries) is
    /// reached first bounds the cache.
    pub fn token_cache_max_bytes(mut self, bytes: u64) -> Self {
        self.token_cache.max_bytes = bytes;
        self
    }

    /// The longest a token stays cached, whatever its `exp`; default 5 minutes, at least 1 s.
    pub fn token_cache_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_cache.max_lifetime = lifetime;
        self
    }

    /// Verifies every token in full, every time: no verified-token cache.
    pub fn disable_token_cache(mut self) -> Self {
        self.token_cache.enabled = false;
        self
    }

    /// Checks the configuration and builds the verifier. Does no I/O: the JWKS is fetched on
    /// first use or by [`Verifier::prefetch`]. Describes the [metrics](crate::metrics) to the
    /// recorder installed now, if any.
    ///
    /// # Errors
    /// A [`BuildError`] naming the first problem found.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let algorithms: Arc<[Algorithm]> = self
            .rsa_algorithms
            .unwrap_or_else(|| vec![RsaAlgorithm::Rs256])
            .into_iter()
            .map(Algorithm::from)
            .collect();
        let hmac = match self.hs256_secret {
            Some(Secret(secret)) if secret.len() < MIN_SECRET_BYTES => {
                return Err(BuildError::WeakSecret(secret.len()));
            }
            Some(Secret(secret)) => Some(VerifyingKey::hmac(&secret)),
            None => None,
        };
        let clock = self
            .clock
            .map_or_else(|| Arc::new(SystemClock) as _, |c| c.0);
        let needs_client = self.jwks_url.is_some() || self.revocation_url.is_some();
        let client = match self.http_client {
            Some(client) => Some(client),
            None if needs_client => Some(default_client(self.jwks.fetch_timeout)?),
            None => None,
        };
        let rsa = match (self.jwks_url, self.rsa_key) {
            (Some(_), Some(_)) => return Err(BuildError::ConflictingRsaSources),
            (None, None) => None,
            (_, _) if algorithms.is_empty() => return Err(BuildError::NoAlgorithms),
            (Some(url), None) => {
                let url = parse_http_url(&url).map_err(BuildError::InvalidJwksUrl)?;
                check_jwks_settings(&self.jwks)?;
                Some(RsaSource::Jwks(Arc::new(JwksCache::new(
                    url,
                    client.clone().unwrap_or_default(),
                    Arc::clone(&clock),
                    self.jwks.clone(),
                    algorithms,
                ))))
            }
            (None, Some(key)) => Some(RsaSource::Static(Arc::new(static_key_set(
                key,
                &algorithms,
            )?))),
        };
        if rsa.is_none() && hmac.is_none() {
            return Err(BuildError::NoKeySource);
        }
        let leeway = self.leeway.unwrap_or(DEFAULT_LEEWAY);
        if leeway > MAX_LEEWAY {
            return Err(invalid("leeway", "at most 5 minutes"));
        }
        let revocation = match self.revocation_url {
            None => None,
            Some(url) => {
                let url = parse_http_url(&url).map_err(BuildError::InvalidRevocationUrl)?;
                check_jwks_settings(&self.jwks)?;
                if self.revocation.poll_interval < Duration::from_secs(1) {
                    return Err(invalid("revocation_poll_interval", "at least 1 s"));
                }
                if self.revocation.max_response_bytes < 1024 {
                    return Err(invalid("revocation_max_response_bytes", "at least 1 KiB"));
                }
                Some(Arc::new(RevocationList::new(
                    url,
                    client.unwrap_or_default(),
                    Arc::clone(&clock),
                    self.revocation,
                    (
                        self.jwks.fetch_timeout,
                        self.jwks.retry_base,
                        self.jwks.retry_max,
                    ),
                )))
            }
        };
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes < 64 {
            return Err(invalid("max_token_bytes", "at least 64 bytes"));
        }
        let token_cache = token_cache(&self.token_cache)?;
        crate::metrics::describe();
        Ok(Verifier::from_inner(Inner {
            rsa,
            hmac,
            rules: ClaimRules {
                issuer: expected_issuer(self.issuer)?,
                audiences: expected_audiences(self.audiences)?,
                leeway_seconds: i64::try_from(leeway.as_secs()).unwrap_or(0),
            },
            max_token_bytes,
            clock,
            revocation,
            token_cache,
        }))
    }
}

fn token_cache(settings: &TokenCacheSettings) -> Result<Option<Arc<TokenCache>>, BuildError> {
    if !settings.enabled {
        return Ok(None);
    }
    if settings.max_entries == 0 {
        return Err(invalid("token_cache_max_entries", "at least 1"));
    }
    if settings.max_bytes < 64 * 1024 {
        return Err(invalid("token_cache_max_bytes", "at least 64 KiB"));
    }
    if settings.max_lifetime < Duration::from_secs(1) {
        return Err(invalid("token_cache_max_lifetime", "at least 1 s"));
    }
    Ok(TokenCache::new(settings).map(Arc::new))
}

fn invalid(name: &'static str, reason: impl Into<String>) -> BuildError {
    BuildError::InvalidSetting {
        name,
        reason: reason.into(),
    }
}

fn expected_issuer(issuer: Expectation<String>) -> Result<Option<Arc<str>>, BuildError> {
    match issuer {
        Expectation::Unset => Err(BuildError::MissingIssuer),
        Expectation::Expect(issuer) if issuer.is_empty() => Err(invalid("issuer", "empty")),
        Expectation::Expect(issuer) => Ok(Some(Arc::from(issuer))),
        Expectation::SkipInsecure => Ok(None),
    }
}

fn expected_audiences(
    audiences: Expectation<Vec<String>>,
) -> Result<Option<Arc<[String]>>, BuildError> {
    match audiences {
        Expectation::Unset => Err(BuildError::MissingAudience),
        Expectation::Expect(audiences) if audiences.iter().any(String::is_empty) => {
            Err(invalid("audience", "empty"))
        }
        Expectation::Expect(audiences) => Ok(Some(Arc::from(audiences))),
        Expectation::SkipInsecure => Ok(None),
    }
}

/// An absolute `http(s)` URL with a host, or why not.
fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("'{raw}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{raw}' is not an http(s) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{raw}' has no host"));
    }
    Ok(url)
}

fn check_jwks_settings(settings: &JwksSettings) -> Result<(), BuildError> {
    if settings.min_ttl.is_zero() || settings.min_ttl > settings.max_ttl {
        return Err(invalid(
            "jwks_ttl_bounds",
            "min must be positive and at most max",
        ));
    }
    if settings.fetch_timeout.is_zero() {
        return Err(invalid("jwks_fetch_timeout", "must be positive"));
    }
    if settings.retry_base.is_zero() || settings.retry_base > settings.retry_max {
        return Err(invalid(
            "jwks_retry_backoff",
            "first must be positive and at most max",
        ));
    }
    if settings.max_response_bytes < 1024 {
        return Err(invalid("jwks_max_response_bytes", "at least 1 KiB"));
    }
    Ok(())
}

fn default_client(timeout: Duration) -> Result<Client, BuildError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirect::Policy::limited(3))
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| BuildError::HttpClient(e.to_string()))
}

fn static_key_set(key: StaticRsaKey, algorithms: &Arc<[Algorithm]>) -> Result<KeySet, BuildError> {
    let key = match key {
        StaticRsaKey::Pem(pem) => {
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
        StaticRsaKey::Jwk(json) => {
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
