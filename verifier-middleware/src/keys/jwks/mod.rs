//! The remote JWKS cache.
//!
//! - **Reads are lock-free**: the current key set sits behind an [`ArcSwap`]; a request that
//!   finds its `kid` there touches no lock and waits for nothing.
//! - **One fetch at a time** (single flight): a cold start, a refresh and an unknown-`kid`
//!   refetch all start or join the same in-flight download, which runs in its own task so a
//!   cancelled request does not cancel it.
//! - **Freshness**: the server's `Cache-Control: max-age` (default 10 min when absent) clamped
//!   to [`JwksSettings::min_ttl`]..[`JwksSettings::max_ttl`]. At 80 % of that lifetime the next
//!   request starts a background refresh and carries on with the cached keys.
//! - **Unknown `kid`**: at most one refetch per cooldown (30 s); other requests fail fast
//!   instead of queueing behind the limiter, and a `kid` still unknown after a refetch is
//!   remembered (negative cache) for the cooldown.
//! - **Outages**: after a failed fetch the last good keys keep serving for up to
//!   [`JwksSettings::max_stale`] past their expiry, while retries back off exponentially
//!   (1 s doubling to 5 min). Retries are driven by traffic: the first request after the
//!   backoff starts the next attempt. With no keys at all the layer answers 503 with
//!   `Retry-After` until one succeeds.

pub(crate) mod discovery;
mod fetch;
mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use reqwest::Url;
use tokio::sync::watch;

use self::discovery::Discovery;
use self::fetch::{Fetched, fetch, read_jwks};
pub use self::settings::DEFAULT_JWKS_MIN_TTL;
pub(crate) use self::settings::JwksSettings;
use super::KeySet;
use crate::clock::Clock;
use crate::metrics::{self, Fetch, Source};
use crate::rejection::Rejection;
use crate::remote::{Endpoint, FetchError, Fetcher, SingleFlight, wait};

/// How many unknown `kid`s are remembered at most.
const NEGATIVE_CACHE_CAPACITY: u64 = 10_000;

/// Where the JWKS is: a configured URL, the one an OpenID discovery document names, or this
/// process's own keys.
pub(crate) enum JwksLocation {
    Url(Endpoint),
    Discovered(Box<Discovery>),
    Local(LocalJwks),
}

/// A JWKS document this process makes itself, read like a download (see
/// [`VerifierBuilder::local_jwks`](crate::VerifierBuilder::local_jwks)).
pub(crate) type LocalJwks = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

impl JwksLocation {
    fn display(&self) -> &str {
        match self {
            Self::Url(endpoint) => endpoint.display(),
            Self::Discovered(discovery) => discovery.display(),
            Self::Local(_) => "in-process JWKS",
        }
    }

    /// The key set there now.
    async fn fetch(&self, algorithms: &Arc<[Algorithm]>) -> Result<Fetched, FetchError> {
        let endpoint = match self {
            Self::Url(endpoint) => endpoint,
            Self::Discovered(discovery) => discovery.jwks().await?,
            Self::Local(document) => return read_jwks(&document(), algorithms, None),
        };
        fetch(endpoint, algorithms).await
    }
}

/// The keys of one JWKS URL, kept fresh.
pub(crate) struct JwksCache {
    location: JwksLocation,
    clock: Arc<dyn Clock>,
    settings: JwksSettings,
    algorithms: Arc<[Algorithm]>,
    state: ArcSwap<CacheState>,
    flight: SingleFlight,
    /// When the last unknown-`kid` refetch started, in ms since the epoch (0: never).
    last_kid_refetch_ms: AtomicU64,
    /// `kid`s a refetch did not find, with when that was.
    absent_kids: moka::sync::Cache<String, SystemTime>,
}

/// The key set held, as the verified-token cache sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation {
    /// Grows each time a download brings keys different from the ones held.
    pub(crate) number: u64,
    /// The keys are past their lifetime, served (within `max_stale`) because no refresh has
    /// succeeded yet.
    pub(crate) stale: bool,
}

#[derive(Debug)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    /// Grows each time a download brings keys different from the ones held.
    generation: u64,
    refresh_at: SystemTime,
    /// The end of the keys' lifetime; past it they are stale, until `discard_at`.
    expires_at: SystemTime,
    discard_at: SystemTime,
    retry_at: Option<SystemTime>,
    failures: u32,
}

impl CacheState {
    fn usable_keys(&self, now: SystemTime) -> Option<&Arc<KeySet>> {
        self.keys.as_ref().filter(|_| now < self.discard_at)
    }

    fn may_fetch(&self, now: SystemTime) -> bool {
        self.retry_at.is_none_or(|retry_at| now >= retry_at)
    }
}

impl JwksCache {
    /// The JWKS at `url`.
    pub(crate) fn new(
        url: Url,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
        settings: JwksSettings,
        algorithms: Arc<[Algorithm]>,
    ) -> Self {
        let endpoint = Endpoint::new(
            url,
            fetcher,
            settings.max_response_bytes,
            "application/jwk-set+json, application/json",
        );
        Self::at(JwksLocation::Url(endpoint), clock, settings, algorithms)
    }

    /// The JWKS `location` holds or leads to.
    pub(crate) fn at(
        location: JwksLocation,
        clock: Arc<dyn Clock>,
        settings: JwksSettings,
        algorithms: Arc<[Algorithm]>,
    ) -> Self {
        let now = clock.now();
        Self {
            location,
            clock,
            absent_kids: moka::sync::Cache::builder()
                .max_capacity(NEGATIVE_CACHE_CAPACITY)
                .time_to_live(settings.unknown_kid_cooldown)
                .build(),
            settings,
            algorithms,
            state: ArcSwap::from_pointee(CacheState {
                keys: None,
                generation: 0,
                refresh_at: now,
                expires_at: now,
                discard_at: now,
                retry_at: None,
                failures: 0,
            }),
            flight: SingleFlight::default(),
            last_kid_refetch_ms: AtomicU64::new(0),
        }
    }

    /// The keys to verify with now, without waiting. Starts a background refresh when the
    /// keys are due for one. `None` when no usable keys are held. Keys past their lifetime
    /// are counted as served stale: call it once per verification.
    pub(crate) fn current(self: &Arc<Self>) -> Option<Arc<KeySet>> {
        let (keys, stale) = self.held(|_, keys| Arc::clone(keys))?;
        if stale {
            metrics::stale_keys_served();
        }
        Some(keys)
    }

    /// Which key set is held: its number grows whenever a download changes the keys. `None`
    /// while no usable keys are held, so that nothing verified earlier is vouched for. Like
    /// [`current`](Self::current), starts a refresh when one is due: requests answered from
    /// the verified-token cache must keep the keys fresh too. Counts nothing: a verification
    /// the token cache cannot answer goes on to [`current`](Self::current).
    pub(crate) fn generation(self: &Arc<Self>) -> Option<Generation> {
        let (number, stale) = self.held(|state, _| state.generation)?;
        Some(Generation { number, stale })
    }

    /// Reads the held state when usable keys are held, starting a background refresh when
    /// they are due for one; also says whether the keys are past their lifetime.
    fn held<T>(
        self: &Arc<Self>,
        read: impl FnOnce(&CacheState, &Arc<KeySet>) -> T,
    ) -> Option<(T, bool)> {
        let now = self.clock.now();
        let state = self.state.load();
        let keys = state.usable_keys(now)?;
        if now >= state.refresh_at
            && state.may_fetch(now)
            && !self.flight.is_running()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            drop(self.start_flight());
        }
        Some((read(&state, keys), now >= state.expires_at))
    }

    /// Whether usable keys are held.
    pub(crate) fn has_keys(&self) -> bool {
        self.state.load().usable_keys(self.clock.now()).is_some()
    }

    /// Keys when none are held: joins or starts a download unless retries are backing off.
    pub(crate) async fn load(self: &Arc<Self>) -> Result<Arc<KeySet>, Rejection> {
        let now = self.clock.now();
        let state = self.state.load_full();
        if let Some(keys) = state.usable_keys(now) {
            return Ok(Arc::clone(keys));
        }
        if !state.may_fetch(now) && !self.flight.is_running() {
            return Err(self.unavailable(&state, now));
        }
        wait(self.start_flight()).await;
        let now = self.clock.now();
        let state = self.state.load_full();
        match state.usable_keys(now) {
            Some(keys) => Ok(Arc::clone(keys)),
            None => Err(self.unavailable(&state, now)),
        }
    }

    /// A refetch for a `kid` the held keys lack, if one is permitted now; `None` means fail
    /// fast. Joins a download already in flight; otherwise starts one only outside the
    /// cooldown, outside a retry backoff, and for a `kid` not already found absent.
    pub(crate) async fn refetch_for_kid(self: &Arc<Self>, kid: &str) -> Option<Arc<KeySet>> {
        let now = self.clock.now();
        if self
            .absent_kids
            .get(kid)
            .is_some_and(|seen| now < seen + self.settings.unknown_kid_cooldown)
        {
            return None;
        }
        let flight = if self.flight.is_running() {
            self.start_flight()
        } else if self.state.load().may_fetch(now) && self.claim_kid_refetch(now) {
            tracing::debug!(url = %self.location.display(), "unknown kid: refetching the JWKS");
            self.start_flight()
        } else {
            return None;
        };
        wait(flight).await;
        let now = self.clock.now();
        let keys = Arc::clone(self.state.load().usable_keys(now)?);
        if keys.kids().iter().all(|known| *known != kid) {
            self.absent_kids.insert(kid.to_owned(), now);
        }
        Some(keys)
    }

    /// Takes the unknown-`kid` refetch slot if the cooldown has passed.
    fn claim_kid_refetch(&self, now: SystemTime) -> bool {
        let now_ms = millis_since_epoch(now);
        let cooldown_ms =
            u64::try_from(self.settings.unknown_kid_cooldown.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_kid_refetch_ms.load(Ordering::Acquire);
        if last != 0 && now_ms < last.saturating_add(cooldown_ms) {
            return false;
        }
        self.last_kid_refetch_ms
            .compare_exchange(last, now_ms.max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn unavailable(&self, state: &CacheState, now: SystemTime) -> Rejection {
        let retry_after = state
            .retry_at
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or(self.settings.retry_backoff.first);
        Rejection::KeysUnavailable { retry_after }
    }

    /// Joins the download in flight or starts one in its own task.
    fn start_flight(self: &Arc<Self>) -> watch::Receiver<bool> {
        let cache = Arc::clone(self);
        self.flight.start(move || async move {
            let outcome = cache.location.fetch(&cache.algorithms).await;
            cache.apply(outcome);
        })
    }

    /// Records a download's outcome: new keys and lifetimes, or a failure and its backoff.
    fn apply(&self, outcome: Result<Fetched, FetchError>) {
        let now = self.clock.now();
        let previous = self.state.load_full();
        let result = if outcome.is_ok() {
            Fetch::Ok
        } else {
            Fetch::Error
        };
        metrics::fetched(Source::Jwks, result, now);
        let next = match outcome {
            Ok(fetched) => {
                for skipped in &fetched.skipped {
                    tracing::warn!(
                        url = %self.location.display(),
                        kid = skipped.kid.as_deref().unwrap_or("-"),
                        reason = %skipped.reason,
                        "JWKS key skipped"
                    );
                }
                let ttl = fetched
                    .max_age
                    .unwrap_or(self.settings.ttl)
                    .clamp(self.settings.min_ttl, self.settings.max_ttl);
                tracing::debug!(
                    url = %self.location.display(),
                    keys = fetched.keys.len(),
                    ttl_seconds = ttl.as_secs(),
                    "JWKS loaded"
                );
                self.absent_kids.invalidate_all();
                let (keys, generation) = match &previous.keys {
                    Some(held) if **held == fetched.keys => (Arc::clone(held), previous.generation),
                    _ => (Arc::new(fetched.keys), previous.generation + 1),
                };
                CacheState {
                    keys: Some(keys),
                    generation,
                    refresh_at: now + ttl.mul_f64(0.8),
                    expires_at: now + ttl,
                    discard_at: now + ttl + self.settings.max_stale,
                    retry_at: None,
                    failures: 0,
                }
            }
            Err(error) => {
                let failures = previous.failures.saturating_add(1);
                let backoff = self.settings.retry_backoff.delay(failures);
                let serving = previous.usable_keys(now).is_some();
                tracing::warn!(
                    url = %self.location.display(),
                    %error,
                    failures,
                    retry_in_seconds = backoff.as_secs(),
                    serving_cached_keys = serving,
                    "JWKS fetch failed"
                );
                CacheState {
                    keys: previous.keys.clone(),
                    generation: previous.generation,
                    refresh_at: previous.refresh_at,
                    expires_at: previous.expires_at,
                    discard_at: previous.discard_at,
                    retry_at: Some(now + backoff),
                    failures,
                }
            }
        };
        self.state.store(Arc::new(next));
    }
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::Client;

    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::VerifyingKey;

    fn key_set(modulus_byte: u8) -> KeySet {
        let mut modulus = vec![modulus_byte; 256];
        modulus[255] |= 1;
        let algorithms: Arc<[Algorithm]> = Arc::from([Algorithm::RS256]);
        let mut set = KeySet::default();
        set.insert(
            VerifyingKey::rsa(Some("k1".into()), &modulus, &[1, 0, 1], &algorithms).unwrap(),
        )
        .unwrap();
        set
    }

    fn downloaded(keys: KeySet) -> Result<Fetched, FetchError> {
        Ok(Fetched {
            keys,
            skipped: Vec::new(),
            max_age: None,
        })
    }

    fn cache() -> Arc<JwksCache> {
        Arc::new(JwksCache::new(
            Url::parse("http://127.0.0.1:9/jwks.json").unwrap(),
            Fetcher {
                client: Client::new(),
                timeout: Duration::from_secs(5),
            },
            Arc::new(ManualClock::new(SystemTime::now())),
            JwksSettings::default(),
            Arc::from([Algorithm::RS256]),
        ))
    }

    #[test]
    fn the_generation_moves_only_when_a_download_changes_the_keys() {
        let cache = cache();
        let number = |cache: &Arc<JwksCache>| cache.generation().map(|held| held.number);
        assert_eq!(number(&cache), None, "no keys yet");

        cache.apply(downloaded(key_set(0xC5)));
        let first = number(&cache).unwrap();
        cache.apply(downloaded(key_set(0xC5)));
        assert_eq!(number(&cache), Some(first), "the same keys again");
        cache.apply(Err(FetchError::Unusable("down")));
        assert_eq!(number(&cache), Some(first), "a failed download");

        cache.apply(downloaded(key_set(0xC7)));
        assert_eq!(number(&cache), Some(first + 1), "another modulus, same kid");
    }
}
