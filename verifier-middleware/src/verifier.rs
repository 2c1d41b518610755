//! [`Verifier`]: a token in, verified claims or a [`Rejection`] out.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::build_error::{BuildError, Setting};
use crate::claims::rules::DEFAULT_LEEWAY;
use crate::claims::{self, ClaimRules, VerifiedClaims};
use crate::clock::{Clock, unix_seconds};
use crate::keys::jwks::{Generation, JwksCache};
use crate::keys::{KeySet, Lookup, VerifyingKey};
use crate::metrics;
use crate::rejection::{InvalidToken, Rejection};
use crate::revocation::{Check, RevocationList};
use crate::token::{self, ParsedToken};
use crate::token_cache::TokenCache;

/// Verifies bearer tokens against the configured key sources and claim rules.
///
/// Build one with [`Verifier::builder`]; clone it freely (clones share the key cache). The
/// layer ([`JwtAuthLayer`](crate::JwtAuthLayer)) uses it per request; call
/// [`verify`](Self::verify) directly to check a token elsewhere (a WebSocket upgrade, a
/// message queue).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) rsa: Option<KeySource>,
    pub(crate) hmac: Option<VerifyingKey>,
    pub(crate) rules: ClaimRules,
    pub(crate) max_token_bytes: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) revocation: Option<Arc<RevocationList>>,
    pub(crate) token_cache: Option<Arc<TokenCache>>,
    pub(crate) counters: metrics::HotCounters,
    /// Set only by [`Verifier::for_issuers`], which has no key source of its own: each token
    /// goes to the verifier of its issuer.
    pub(crate) issuers: Option<Issuers>,
}

/// Where RSA keys come from. The algorithms are pinned per key in the key set.
pub(crate) enum KeySource {
    Static(Arc<KeySet>),
    Jwks(Arc<JwksCache>),
}

/// A verification that either finished without waiting (the common case: the key is cached)
/// or must wait for keys to be downloaded.
pub(crate) enum Attempt {
    Done(Result<VerifiedClaims, Rejection>),
    Pending(Pin<Box<dyn Future<Output = Result<VerifiedClaims, Rejection>> + Send>>),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(issuers) = &self.inner.issuers {
            return f
                .debug_struct("Verifier")
                .field("issuers", &issuers.issuers())
                .finish_non_exhaustive();
        }
        f.debug_struct("Verifier")
            .field("rsa", &self.inner.rsa.as_ref().map(KeySource::kind))
            .field("hs256", &self.inner.hmac.is_some())
            .field("rules", &self.inner.rules)
            .field("revocation_list", &self.inner.revocation.is_some())
            .field("token_cache", &self.inner.token_cache.is_some())
            .finish_non_exhaustive()
    }
}

impl KeySource {
    fn kind(&self) -> &'static str {
        match self {
            Self::Static(_) => "static key",
            Self::Jwks(_) => "JWKS",
        }
    }
}

impl Verifier {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// One verifier for several issuers (multi-tenant): each token goes to the verifier of
    /// the issuer its `iss` names, with that verifier's keys, audience, caches and revocation
    /// list, and is then checked as that verifier alone would check it (`iss` included). The
    /// `iss` is read before the signature only to make that choice; a token naming no
    /// configured issuer is refused (`the token was not issued by the expected issuer`)
    /// without any download. Each issuer's outages are its own: one provider down leaves the
    /// others serving.
    ///
    /// ```
    /// # use verifier_middleware::Verifier;
    /// let tenant = |issuer: &str| {
    ///     Verifier::builder().oidc_issuer(issuer).audience("bookings").build().unwrap()
    /// };
    /// let verifier = Verifier::for_issuers([
    ///     tenant("https://sso.example.com/realms/shop-a"),
    ///     tenant("https://sso.example.com/realms/shop-b"),
    /// ])
    /// .unwrap();
    /// # let _ = verifier.layer();
    /// ```
    ///
    /// # Errors
    /// [`BuildError::InvalidSetting`] naming `issuer` when the list is empty, when a verifier
    /// skips the issuer check, or when two expect the same issuer.
    pub fn for_issuers(verifiers: impl IntoIterator<Item = Verifier>) -> Result<Self, BuildError> {
        let issuers = Issuers::new(verifiers.into_iter().collect())?;
        Ok(Self::from_inner(Inner {
            rsa: None,
            hmac: None,
            rules: ClaimRules {
                issuer: None,
                audiences: None,
                leeway_seconds: claims::rules::leeway_seconds(DEFAULT_LEEWAY),
                role_claims: None,
            },
            max_token_bytes: 0,
            clock: Arc::new(crate::clock::SystemClock),
            revocation: None,
            token_cache: None,
            counters: metrics::HotCounters::register(),
            issuers: Some(issuers),
        }))
    }

    /// The issuer this verifier expects, if it expects exactly one.
    pub(crate) fn expected_issuer(&self) -> Option<&str> {
        if self.inner.issuers.is_some() {
            return None;
        }
        self.inner.rules.issuer.as_deref()
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// Verifies a token (the text after `Bearer `): its form, its signature with a key from the
    /// source its algorithm is pinned to, and its claims. Waits only when the keys must be
    /// downloaded first.
    ///
    /// # Errors
    /// A [`Rejection`] saying why the token is not accepted, or that no keys are available.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, Rejection> {
        match self.try_verify(token) {
            Attempt::Done(result) => result,
            Attempt::Pending(future) => future.await,
        }
    }

    /// Loads the JWKS now, if there is one and it is not loaded yet, so the first requests do
    /// not wait for it. Call it at start-up; failing is not fatal (requests retry later).
    ///
    /// # Errors
    /// [`Rejection::KeysUnavailable`] when the download fails.
    pub async fn prefetch(&self) -> Result<(), Rejection> {
        if let Some(issuers) = &self.inner.issuers {
            let mut outcome = Ok(());
            for verifier in issuers.verifiers() {
                if let Err(rejection) = Box::pin(verifier.prefetch()).await {
                    outcome = Err(rejection);
                }
            }
            return outcome;
        }
        if let Some(list) = &self.inner.revocation
            && let Err(error) = list.prefetch().await
        {
            tracing::debug!(%error, "revocation list prefetch failed");
        }
        match &self.inner.rsa {
            Some(KeySource::Jwks(cache)) => cache.load().await.map(drop),
            _ => Ok(()),
        }
    }

    /// Whether the verifier holds keys, e.g. for a readiness probe: always true for a static
    /// key or a secret alone; with a JWKS, true once it is loaded (and not discarded as too
    /// stale).
    pub fn has_keys(&self) -> bool {
        if let Some(issuers) = &self.inner.issuers {
            return issuers.verifiers().all(Verifier::has_keys);
        }
        match &self.inner.rsa {
            Some(KeySource::Jwks(cache)) => cache.has_keys(),
            _ => true,
        }
    }

    /// Verification without waiting when possible; counted in the metrics once its outcome is
    /// known.
    pub(crate) fn try_verify(&self, token: &str) -> Attempt {
        if let Some(issuers) = &self.inner.issuers {
            return issuers.try_verify(token);
        }
        let attempt = self.try_verify_cached(token);
        let attempt = match &self.inner.revocation {
            Some(list) => screen(attempt, list),
            None => attempt,
        };
        match attempt {
            Attempt::Done(outcome) => {
                self.inner.counters.verified(&outcome);
                Attempt::Done(outcome)
            }
            Attempt::Pending(verification) => {
                let verifier = self.clone();
                Attempt::Pending(Box::pin(async move {
                    let outcome = verification.await;
                    verifier.inner.counters.verified(&outcome);
                    outcome
                }))
            }
        }
    }

    /// A token verified before under the same keys and revocation list is taken from the
    /// cache, its time claims checked again; any other is verified in full and remembered.
    fn try_verify_cached(&self, token: &str) -> Attempt {
        let Some(cache) = &self.inner.token_cache else {
            return self.try_verify_token(token);
        };
        if token.len() > self.inner.max_token_bytes {
            return Attempt::Done(Err(InvalidToken::TooLong.into()));
        }
        let Some(generation) = self.cache_generation() else {
            self.inner.counters.token_cache_miss();
            return self.try_verify_token(token);
        };
        let now = unix_seconds(self.inner.clock.now());
        if let Some(hit) = cache.get(token, generation.number, &self.inner.rules, now) {
            self.inner.counters.token_cache_hit();
            if generation.stale {
                // A miss counts stale keys where it looks its key up (`JwksCache::current`).
                metrics::stale_keys_served();
            }
            return Attempt::Done(hit.map_err(Rejection::from));
        }
        self.inner.counters.token_cache_miss();
        let generation = generation.number;
        match self.try_verify_token(token) {
            Attempt::Done(Ok(claims)) => {
                cache.insert(token, &claims, generation, now);
                Attempt::Done(Ok(claims))
            }
            Attempt::Pending(verification) => {
                let cache = Arc::clone(cache);
                let clock = Arc::clone(&self.inner.clock);
                let token = token.to_owned();
                Attempt::Pending(Box::pin(async move {
                    let claims = verification.await?;
                    cache.insert(&token, &claims, generation, unix_seconds(clock.now()));
                    Ok(claims)
                }))
            }
            rejected @ Attempt::Done(Err(_)) => rejected,
        }
    }

    /// The generation of the keys and the revocation list, which the cache's entries must
    /// match, and whether the JWKS keys are stale; `None` when a JWKS source holds no usable
    /// keys (then nothing is served from the cache). Both parts only grow, so their sum
    /// changes whenever either does.
    fn cache_generation(&self) -> Option<Generation> {
        let keys = match &self.inner.rsa {
            Some(KeySource::Jwks(cache)) => cache.generation()?,
            _ => Generation {
                number: 0,
                stale: false,
            },
        };
        let list = self
            .inner
            .revocation
            .as_ref()
            .map_or(0, |list| list.generation());
        Some(Generation {
            number: keys.number.wrapping_add(list),
            ..keys
        })
    }

    /// Whether the JWKS key set held now has a key for `kid` and `alg`, looked up exactly as a
    /// request does before its signature check. For the benchmarks.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn finds_jwks_key(&self, kid: &str, alg: Algorithm) -> bool {
        let Some(KeySource::Jwks(cache)) = &self.inner.rsa else {
            return false;
        };
        cache
            .current()
            .is_some_and(|keys| matches!(keys.find(Some(kid), alg), Lookup::Found(_)))
    }

    /// Form, signature and claims; no revocation check.
    fn try_verify_token(&self, token: &str) -> Attempt {
        let parsed = match token::parse(token, self.inner.max_token_bytes) {
            Ok(parsed) => parsed,
            Err(error) => return Attempt::Done(Err(error.into())),
        };
        if parsed.alg == Algorithm::HS256 {
            return Attempt::Done(match &self.inner.hmac {
                Some(key) => self.check(&parsed, key),
                None => Err(InvalidToken::AlgorithmNotAllowed.into()),
            });
        }
        match &self.inner.rsa {
            Some(KeySource::Static(keys)) => Attempt::Done(self.check_in(&parsed, keys)),
            Some(KeySource::Jwks(cache)) => {
                let keys = cache.current();
                let found = keys.as_ref().and_then(|keys| {
                    match keys.find(parsed.kid.as_deref(), parsed.alg) {
                        Lookup::UnknownKid => None,
                        lookup => Some(self.check_found(&parsed, lookup)),
                    }
                });
                match found {
                    Some(result) => Attempt::Done(result),
                    None => Attempt::Pending(Box::pin(self.clone().verify_after_fetch(
                        Arc::clone(cache),
                        keys,
                        token.to_owned(),
                    ))),
                }
            }
            None => Attempt::Done(Err(InvalidToken::AlgorithmNotAllowed.into())),
        }
    }

    /// The slow path: the keys `held` are missing, or lack the token's `kid`.
    async fn verify_after_fetch(
        self,
        cache: Arc<JwksCache>,
        held: Option<Arc<KeySet>>,
        token: String,
    ) -> Result<VerifiedClaims, Rejection> {
        let parsed = token::parse(&token, self.inner.max_token_bytes)?;
        let keys = match held {
            None => cache.load().await?,
            Some(keys) => match parsed.kid.as_deref() {
                Some(kid) if is_unknown_kid(&keys, &parsed) => {
                    cache.refetch_for_kid(kid).await.unwrap_or(keys)
                }
                _ => keys,
            },
        };
        self.check_in(&parsed, &keys)
    }

    fn check_in(
        &self,
        parsed: &ParsedToken<'_>,
        keys: &KeySet,
    ) -> Result<VerifiedClaims, Rejection> {
        self.check_found(parsed, keys.find(parsed.kid.as_deref(), parsed.alg))
    }

    fn check_found(
        &self,
        parsed: &ParsedToken<'_>,
        lookup: Lookup<'_>,
    ) -> Result<VerifiedClaims, Rejection> {
        match lookup {
            Lookup::Found(key) => self.check(parsed, key),
            Lookup::UnknownKid => Err(InvalidToken::UnknownKey.into()),
            Lookup::Ambiguous => Err(InvalidToken::MissingKeyId.into()),
            Lookup::AlgorithmMismatch => Err(InvalidToken::AlgorithmNotAllowed.into()),
        }
    }

    /// Signature, then claims: nothing in the payload is read before the signature holds.
    fn check(
        &self,
        parsed: &ParsedToken<'_>,
        key: &VerifyingKey,
    ) -> Result<VerifiedClaims, Rejection> {
        key.verify_signature(
            parsed.alg,
            parsed.signing_input.as_bytes(),
            parsed.signature,
        )?;
        let payload = token::decode_payload(parsed.payload)?;
        let now = unix_seconds(self.inner.clock.now());
        Ok(claims::validate(payload, &self.inner.rules, now)?)
    }
}

/// Refuses verified tokens whose session is on the revocation list. Tokens without a `sid`
/// are not affected (nothing could revoke them).
fn screen(attempt: Attempt, list: &Arc<RevocationList>) -> Attempt {
    match attempt {
        Attempt::Done(Ok(claims)) => {
            let Some(sid) = claims.session_id() else {
                return Attempt::Done(Ok(claims));
            };
            match list.check(sid) {
                Check::Known(revoked) => Attempt::Done(refuse_if(revoked, claims)),
                Check::MustRefresh => {
                    let list = Arc::clone(list);
                    Attempt::Pending(Box::pin(async move {
                        let sid = claims.session_id().unwrap_or_default();
                        let revoked = list.check_after_refresh(sid).await;
                        refuse_if(revoked, claims)
                    }))
                }
            }
        }
        Attempt::Pending(future) => {
            let list = Arc::clone(list);
            Attempt::Pending(Box::pin(async move {
                let claims = future.await?;
                let revoked = match claims.session_id() {
                    None => false,
                    Some(sid) => match list.check(sid) {
                        Check::Known(revoked) => revoked,
                        Check::MustRefresh => list.check_after_refresh(sid).await,
                    },
                };
                refuse_if(revoked, claims)
            }))
        }
        done @ Attempt::Done(Err(_)) => done,
    }
}

fn refuse_if(revoked: bool, claims: VerifiedClaims) -> Result<VerifiedClaims, Rejection> {
    if revoked {
        Err(InvalidToken::Revoked.into())
    } else {
        Ok(claims)
    }
}

fn is_unknown_kid(keys: &KeySet, parsed: &ParsedToken<'_>) -> bool {
    matches!(
        keys.find(parsed.kid.as_deref(), parsed.alg),
        Lookup::UnknownKid
    )
}

/// The verifiers of [`Verifier::for_issuers`], by the issuer each expects.
pub(crate) struct Issuers {
    by_issuer: HashMap<String, Verifier>,
    /// The largest token any of them accepts: longer ones are refused before being read.
    max_token_bytes: usize,
}

impl Issuers {
    pub(crate) fn new(verifiers: Vec<Verifier>) -> Result<Self, BuildError> {
        Setting::Issuer.require(
            !verifiers.is_empty(),
            "for_issuers needs at least one verifier",
        )?;
        let mut by_issuer = HashMap::new();
        let mut max_token_bytes = 0;
        for verifier in verifiers {
            let Some(issuer) = verifier.expected_issuer() else {
                return Err(BuildError::invalid(
                    Setting::Issuer,
                    "each verifier of for_issuers must expect its own issuer (not skipped, not several)",
                ));
            };
            max_token_bytes = max_token_bytes.max(verifier.max_token_bytes());
            if by_issuer.insert(issuer.to_owned(), verifier).is_some() {
                return Err(BuildError::invalid(
                    Setting::Issuer,
                    "two verifiers of for_issuers expect the same issuer",
                ));
            }
        }
        Ok(Self {
            by_issuer,
            max_token_bytes,
        })
    }

    /// The verifier of the issuer the token names. Its `iss` is read before the signature is
    /// checked, only to choose the keys; the chosen verifier then checks everything, `iss`
    /// included, as it would alone. A token whose `iss` is missing or unknown is refused
    /// without touching any key source.
    pub(crate) fn try_verify(&self, token: &str) -> Attempt {
        match self.chosen(token) {
            Ok(verifier) => verifier.try_verify(token),
            Err(rejection) => Attempt::Done(Err(rejection)),
        }
    }

    fn chosen(&self, token: &str) -> Result<&Verifier, Rejection> {
        let parsed = token::parse(token, self.max_token_bytes)?;
        let payload = token::decode_payload(parsed.payload)?;
        claims::unverified_issuer(&payload)?
            .and_then(|iss| self.by_issuer.get(iss.as_ref()))
            .ok_or(InvalidToken::WrongIssuer.into())
    }

    pub(crate) fn verifiers(&self) -> impl Iterator<Item = &Verifier> {
        self.by_issuer.values()
    }

    pub(crate) fn issuers(&self) -> Vec<&str> {
        let mut issuers: Vec<&str> = self.by_issuer.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        issuers
    }
}
