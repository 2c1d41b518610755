//! [`VerifierBuilder`]: the configuration of a [`Verifier`], checked once, when built. Each
//! part is checked by its own settings type, next to the code it configures.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use reqwest::Client;

use crate::build_error::BuildError;
use crate::build_error::Setting;
use crate::claims::{ClaimSettings, Expectation};
use crate::clock::{Clock, SystemClock};
use crate::keys::VerifyingKey;
use crate::keys::algorithm::SignatureAlgorithm;
use crate::keys::jwks::discovery::{self, Discovery};
use crate::keys::jwks::{JwksCache, JwksLocation, JwksSettings, LocalJwks};
use crate::keys::static_key::StaticKey;
use crate::remote::{Backoff, FetchSettings, parse_http_url};
use crate::revocation::{RevocationList, RevocationSettings};
use crate::secret::Secret;
use crate::token;
use crate::token_cache::{TokenCache, TokenCacheSettings};
use crate::verifier::{Inner, KeySource, Verifier};

/// Configures a [`Verifier`]. Nothing is checked until [`build`](Self::build), which refuses
/// anything unsafe or inconsistent with one line saying what to change.
///
/// Key sources: one public-key source ([`jwks_url`](Self::jwks_url),
/// [`oidc_issuer`](Self::oidc_issuer), [`local_jwks`](Self::local_jwks), or a static
/// [`public_key_pem`](Self::public_key_pem) / [`public_jwk`](Self::public_jwk)),
/// and/or an [`hs256_secret`](Self::hs256_secret). Each source verifies only its own algorithms
/// (public keys: [`algorithms`](Self::algorithms), each key only those of its kind; the
/// secret: HS256),
/// so configuring both, e.g. while migrating from HS256 to RS256, cannot lead to algorithm
/// confusion. `none` is never accepted.
#[derive(Debug, Default)]
#[must_use]
pub struct VerifierBuilder {
    jwks_url: Option<String>,
    oidc_issuer: Option<String>,
    local_jwks: Option<LocalJwksBox>,
    allow_http: bool,
    rsa_key: Option<StaticKey>,
    hs256_secret: Option<Secret>,
    algorithms: Option<Vec<SignatureAlgorithm>>,
    claims: ClaimSettings,
    max_token_bytes: Option<usize>,
    clock: Option<ClockBox>,
    fetch: FetchSettings,
    jwks: JwksSettings,
    revocation: RevocationSettings,
    token_cache: TokenCacheSettings,
}

struct ClockBox(Arc<dyn Clock>);

struct LocalJwksBox(LocalJwks);

impl fmt::Debug for LocalJwksBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalJwks")
    }
}

impl fmt::Debug for ClockBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

impl Verifier {
    /// Starts configuring a verifier.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }
}

impl VerifierBuilder {
    /// Fetch public keys (RSA, P-256, P-384, Ed25519) from this JWKS URL (`http` or `https`), cached as the crate docs
    /// describe. Requires a Tokio runtime when verifying.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Verify with keys this process holds itself: `document` returns a JWKS document (JSON),
    /// e.g. what a token issuer publishes at `/.well-known/jwks.json`, so that the issuer can
    /// protect its own endpoints with this layer without an HTTP request to itself. The
    /// document is read as a downloaded JWKS is, and cached the same way: read again after
    /// [`jwks_ttl`](Self::jwks_ttl) (set it to at most the time a new key is published before
    /// it signs) and on an unknown `kid`, at most once per
    /// [`jwks_unknown_kid_cooldown`](Self::jwks_unknown_kid_cooldown). A document with no
    /// usable key is a failed fetch. Keep `document` quick: it runs on the runtime.
    ///
    /// ```
    /// # use verifier_middleware::Verifier;
    /// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let verifier = Verifier::builder()
    ///     .local_jwks(move || jwks.as_bytes().to_vec())
    ///     .issuer("https://issuer.example.com")
    ///     .audience("bookings")
    ///     .build()
    ///     .unwrap();
    /// # let _ = verifier;
    /// ```
    pub fn local_jwks(mut self, document: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> Self {
        self.local_jwks = Some(LocalJwksBox(Arc::new(document)));
        self
    }

    /// Trust the OpenID provider `issuer` (e.g. `https://idp.example.com/realms/shop`): its
    /// JWKS is found through `{issuer}/.well-known/openid-configuration` (OpenID Connect
    /// Discovery, RFC 8414), whose `issuer` must equal this one exactly, and tokens must carry
    /// it as `iss` (this sets [`issuer`](Self::issuer)). The document is read when keys are
    /// first needed ([`Verifier::prefetch`] at start-up), with the JWKS's timeout, size cap,
    /// single flight and backoff; until it succeeds requests get 503, as with a cold JWKS. A
    /// mismatched `issuer` is logged (`JWKS fetch failed`) with both names. `https` is
    /// required, for the document's `jwks_uri` too, except on a loopback host or after
    /// [`insecure_allow_http`](Self::insecure_allow_http).
    ///
    /// ```
    /// # use verifier_middleware::Verifier;
    /// let verifier = Verifier::builder()
    ///     .oidc_issuer("https://idp.example.com/realms/shop")
    ///     .audience("bookings")
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn oidc_issuer(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.claims.issuer = Expectation::Expect(issuer.clone());
        self.oidc_issuer = Some(issuer);
        self
    }

    /// Let [`oidc_issuer`](Self::oidc_issuer) use plain `http` off loopback (a provider on a
    /// private network without TLS): its keys could then be replaced by anyone on the path.
    pub fn insecure_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Verify with this public key, PEM-encoded: `PUBLIC KEY` (an RSA, P-256, P-384 or Ed25519
    /// key) or `RSA PUBLIC KEY`, e.g. the issuer's `/public-key`. Tokens may name any `kid`.
    pub fn public_key_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.rsa_key = Some(StaticKey::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Verify with this public key given as a JWK (JSON text; `kty` `RSA`, `EC` or `OKP`). If
    /// it has a `kid`, tokens must name it or none.
    pub fn public_jwk(mut self, jwk: impl Into<String>) -> Self {
        self.rsa_key = Some(StaticKey::Jwk(jwk.into()));
        self
    }

    /// Also (or only) verify HS256 tokens with this shared secret (at least
    /// [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES), 32 bytes).
    pub fn hs256_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.hs256_secret = Some(Secret::new(secret.as_ref()));
        self
    }

    /// The algorithms public keys may verify; default [`SignatureAlgorithm::DEFAULT`] (RS256,
    /// ES256, ES384, EdDSA). Each key verifies only those of its kind (an RSA key RS*/PS*, a
    /// P-256 key ES256, ...); a key whose JWK names its own `alg` verifies only that one. The
    /// HS256 secret is not affected.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = SignatureAlgorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The `iss` tokens must carry, compared exactly.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.claims.issuer = Expectation::Expect(issuer.into());
        self
    }

    /// An `aud` tokens may carry (as a string or in an array); call again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        match &mut self.claims.audiences {
            Expectation::Expect(audiences) => audiences.push(audience.into()),
            _ => self.claims.audiences = Expectation::Expect(vec![audience.into()]),
        }
        self
    }

    /// Accept tokens from any issuer. Only safe when every key the verifier trusts belongs to
    /// one issuer; prefer [`issuer`](Self::issuer).
    pub fn insecure_skip_issuer_check(mut self) -> Self {
        self.claims.issuer = Expectation::SkipInsecure;
        self
    }

    /// Accept tokens meant for any audience. A token the issuer minted for another service
    /// will then work here; prefer [`audience`](Self::audience).
    pub fn insecure_skip_audience_check(mut self) -> Self {
        self.claims.audiences = Expectation::SkipInsecure;
        self
    }
    /// Where roles are read, as JSON pointers (RFC 6901) into the payload; each names a
    /// string (one role) or an array of strings, and another type there is malformed (401).
    /// Replaces the default: this project's issuer's `role` string and `roles` array. Keycloak: `/realm_access/roles` (and
    /// `/resource_access/<client>/roles`); Entra ID and Zitadel-style flat arrays: `/roles`;
    /// Auth0 namespaced claims: `/https:~1~1example.com~1roles` (`~1` is `/`).
    pub fn role_claims<I, P>(mut self, pointers: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.claims.role_claims = Some(pointers.into_iter().map(Into::into).collect());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`; default
    /// [`DEFAULT_LEEWAY`](crate::DEFAULT_LEEWAY) (60 s), at most
    /// [`MAX_LEEWAY`](crate::MAX_LEEWAY) (5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.claims.leeway = leeway;
        self
    }

    /// Tokens longer than this are refused before parsing; default
    /// [`DEFAULT_MAX_TOKEN_BYTES`](crate::DEFAULT_MAX_TOKEN_BYTES) (8 KiB), at least 64 bytes.
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

    /// The HTTP client for downloads (the JWKS and the revocation list), e.g. one with a proxy
    /// or a private CA. The default one connects and answers within the
    /// [`fetch_timeout`](Self::fetch_timeout) and follows at most 3 redirects. Each download is
    /// bounded by the `fetch_timeout` whichever client makes it.
    pub fn http_client(mut self, client: Client) -> Self {
        self.fetch.client = Some(client);
        self
    }

    /// Timeout of one download, of the JWKS or of the revocation list; default 5 s, must be
    /// positive.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch.timeout = timeout;
        self
    }

    /// Key lifetime when the JWKS response has no `Cache-Control: max-age`; default 10 min.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.jwks.ttl = ttl;
        self
    }

    /// Bounds on the lifetime a server's `max-age` may set; default 1 min to 24 h. `min` must be
    /// positive and at most `max`.
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

    /// Largest JWKS response read; default 256 KiB, at least 1 KiB.
    pub fn jwks_max_response_bytes(mut self, bytes: usize) -> Self {
        self.jwks.max_response_bytes = bytes;
        self
    }

    /// Retry delays after failed downloads: `first`, doubling up to `max`; default 1 s to
    /// 5 min.
    pub fn jwks_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.jwks.retry_backoff = Backoff { first, max };
        self
    }

    /// Poll the issuer's revocation list at this URL (`http` or `https`; the `issuer` crate
    /// serves it at `/revoked-sessions`) and refuse tokens whose `sid` is on it, with 401
    /// `invalid_token` "the token's session has ended". Off by default. The bound: while the
    /// issuer answers, a logout is enforced within [`revocation_poll_interval`](Self::revocation_poll_interval)
    /// plus one download; during an outage the last list keeps applying. Downloads use the
    /// [`fetch_timeout`](Self::fetch_timeout) and
    /// [`jwks_retry_backoff`](Self::jwks_retry_backoff) settings, which are then checked even
    /// without a JWKS, with the rest of the `jwks_*` settings.
    pub fn revocation_list_url(mut self, url: impl Into<String>) -> Self {
        self.revocation.url = Some(url.into());
        self
    }

    /// How old the revocation list may be when a token is checked against it; default 30 s,
    /// at least 1 s.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.revocation.poll_interval = interval;
        self
    }

    /// Largest revocation list response read; default 4 MiB (about 100 000 session ids), at
    /// least 1 KiB.
    pub fn revocation_max_response_bytes(mut self, bytes: usize) -> Self {
        self.revocation.max_response_bytes = bytes;
        self
    }

    /// How many verified tokens the cache holds at most, on top of
    /// [`token_cache_max_bytes`](Self::token_cache_max_bytes); no count bound by default, at
    /// least 1. The cache is on by default; what it does and never does is in the crate docs:
    /// [the verified-token cache](crate#the-verified-token-cache).
    pub fn token_cache_max_entries(mut self, entries: u64) -> Self {
        self.token_cache.max_entries = Some(entries);
        self
    }

    /// How much memory the cache may use; default 64 MiB, at least 64 KiB. An entry is
    /// estimated at its token's length, plus its payload's, plus about 900 bytes (measured: an
    /// access token of this project's issuer, about 830 bytes signed with RS256, takes about
    /// 2 KB, so the default holds about 33,000). Size it to the tokens alive at once, e.g. 200
    /// MiB for 100,000 users active within a token's lifetime. A handler that asks for
    /// [`VerifiedClaims::payload`](crate::VerifiedClaims::payload) makes a cached token's
    /// claim map, kept with the entry and not counted; `Claims<T>` and the other accessors
    /// never do.
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
    pub fn build(mut self) -> Result<Verifier, BuildError> {
        let algorithms: Arc<[Algorithm]> = self
            .algorithms
            .unwrap_or_else(|| SignatureAlgorithm::DEFAULT.to_vec())
            .into_iter()
            .map(Algorithm::from)
            .collect();
        let hmac = match self.hs256_secret {
            Some(secret) if secret.is_weak() => {
                return Err(BuildError::WeakSecret(secret.bytes().len()));
            }
            Some(secret) => Some(VerifyingKey::hmac(secret.bytes())),
            None => None,
        };
        let clock = self
            .clock
            .map_or_else(|| Arc::new(SystemClock) as _, |c| c.0);
        let sources = [
            self.jwks_url.is_some(),
            self.rsa_key.is_some(),
            self.oidc_issuer.is_some(),
            self.local_jwks.is_some(),
        ];
        if sources.into_iter().filter(|&set| set).count() > 1 {
            return Err(BuildError::ConflictingKeySources);
        }
        if sources.contains(&true) && algorithms.is_empty() {
            return Err(BuildError::NoAlgorithms);
        }
        let rsa = if let Some(url) = self.jwks_url {
            let url = parse_http_url(&url).map_err(BuildError::InvalidJwksUrl)?;
            self.jwks.validate()?;
            Some(KeySource::Jwks(Arc::new(JwksCache::new(
                url,
                self.fetch.fetcher()?,
                Arc::clone(&clock),
                self.jwks.clone(),
                algorithms,
            ))))
        } else if let Some(issuer) = self.oidc_issuer {
            if !matches!(&self.claims.issuer, Expectation::Expect(expected) if *expected == issuer)
            {
                return Err(BuildError::invalid(
                    Setting::Issuer,
                    "oidc_issuer sets the expected issuer; do not set another",
                ));
            }
            let document = discovery::document_url(&issuer, self.allow_http)
                .map_err(BuildError::InvalidIssuerUrl)?;
            self.jwks.validate()?;
            let location = JwksLocation::Discovered(Box::new(Discovery::new(
                issuer,
                document,
                self.allow_http,
                self.fetch.fetcher()?,
                self.jwks.max_response_bytes,
            )));
            Some(KeySource::Jwks(Arc::new(JwksCache::at(
                location,
                Arc::clone(&clock),
                self.jwks.clone(),
                algorithms,
            ))))
        } else if let Some(LocalJwksBox(document)) = self.local_jwks {
            self.jwks.validate()?;
            Some(KeySource::Jwks(Arc::new(JwksCache::at(
                JwksLocation::Local(document),
                Arc::clone(&clock),
                self.jwks.clone(),
                algorithms,
            ))))
        } else {
            match self.rsa_key {
                Some(key) => Some(KeySource::Static(Arc::new(key.key_set(&algorithms)?))),
                None => None,
            }
        };
        if rsa.is_none() && hmac.is_none() {
            return Err(BuildError::NoKeySource);
        }
        let revocation = match self.revocation.validate()? {
            None => None,
            Some(url) => {
                // Its downloads back off as the JWKS's do.
                self.jwks.validate()?;
                Some(Arc::new(RevocationList::new(
                    url,
                    self.fetch.fetcher()?,
                    Arc::clone(&clock),
                    &self.revocation,
                    self.jwks.retry_backoff,
                )))
            }
        };
        let max_token_bytes = token::max_token_bytes(self.max_token_bytes)?;
        self.token_cache.validate()?;
        let token_cache = TokenCache::new(&self.token_cache).map(Arc::new);
        let rules = self.claims.rules()?;
        crate::metrics::describe();
        Ok(Verifier::from_inner(Inner {
            rsa,
            hmac,
            rules,
            max_token_bytes,
            clock,
            revocation,
            token_cache,
            counters: crate::metrics::HotCounters::register(),
            issuers: None,
        }))
    }
}
