//! The revocation list: session ids (`sid`) whose tokens are refused before they expire.
//!
//! The issuer publishes the ids of ended sessions (logout, reuse detection, an operator) whose
//! access tokens may still be live, as `{"sids": [...]}` (the `issuer` crate serves it at
//! `GET /revoked-sessions`). The verifier polls it, opt-in, through
//! [`VerifierBuilder::revocation_list_url`](crate::VerifierBuilder::revocation_list_url):
//!
//! - **The bound**: while the issuer answers, no token is checked against a list older than the
//!   poll interval (default 30 s). At 80 % of the interval the next request refreshes the list
//!   in the background; a request that finds it older than the interval waits for the refresh
//!   (one download, shared by all waiting requests). So a logout takes effect everywhere within
//!   the interval plus one download.
//! - **Cheap**: the list is read lock-free; downloads are conditional (`If-None-Match`), so an
//!   unchanged list costs a `304`.
//! - **Outages fail open**: when a download fails, the last list keeps applying and requests do
//!   not wait while retries back off (the same backoff as the JWKS); the first request after a
//!   backoff waits for the retry, at most the fetch timeout. Revocation is an early
//!   cut-off; the token's `exp` remains the hard bound. A service that must check live should
//!   ask the issuer per request instead.

mod settings;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use reqwest::Url;
use serde::Deserialize;

pub(crate) use self::settings::RevocationSettings;
use crate::clock::Clock;
use crate::metrics::{self, Fetch, Source};
use crate::remote::{Backoff, Document, Endpoint, FetchError, Fetcher, SingleFlight, wait};

/// Whether a token's session may be used, as far as the list knows now.
pub(crate) enum Check {
    /// The list is fresh enough (or cannot be refreshed now): here is the answer.
    Known(bool),
    /// The list is older than the poll interval and a download may succeed: wait for it.
    MustRefresh,
}

/// The polled list of revoked session ids.
pub(crate) struct RevocationList {
    endpoint: Endpoint,
    clock: Arc<dyn Clock>,
    /// How old the list may be when a token is checked against it.
    poll_interval: Duration,
    retry_backoff: Backoff,
    state: ArcSwap<ListState>,
    flight: SingleFlight,
}

#[derive(Debug, Default)]
struct ListState {
    sids: Arc<HashSet<String>>,
    /// Grows each time a download brings a list different from the one held.
    generation: u64,
    etag: Option<String>,
    /// When the download that produced `sids` was sent; `None`: never.
    fetched_at: Option<SystemTime>,
    retry_at: Option<SystemTime>,
    failures: u32,
}

#[derive(Deserialize)]
struct ListBody {
    sids: Vec<String>,
}

impl RevocationList {
    pub(crate) fn new(
        url: Url,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
        settings: &RevocationSettings,
        retry_backoff: Backoff,
    ) -> Self {
        Self {
            endpoint: Endpoint::new(
                url,
                fetcher,
                settings.max_response_bytes,
                "application/json",
            ),
            clock,
            poll_interval: settings.poll_interval,
            retry_backoff,
            state: ArcSwap::from_pointee(ListState::default()),
            flight: SingleFlight::default(),
        }
    }

    /// Checks `sid` without waiting when the list allows it; starts a background refresh when
    /// the list is due for one.
    pub(crate) fn check(self: &Arc<Self>, sid: &str) -> Check {
        let now = self.clock.now();
        let state = self.state.load();
        let interval = self.poll_interval;
        // A clock that stepped backwards makes the list's age unknown: treat it as stale.
        let age = state
            .fetched_at
            .map_or(interval, |at| now.duration_since(at).unwrap_or(interval));
        let may_fetch = state.retry_at.is_none_or(|at| now >= at)
            && tokio::runtime::Handle::try_current().is_ok();
        if may_fetch && age >= interval {
            // Too old, and a download may succeed: wait for it (bounded by the fetch timeout).
            // While retries back off, requests do not wait: the last list applies.
            return Check::MustRefresh;
        }
        if may_fetch && age >= interval.mul_f64(0.8) && !self.flight.is_running() {
            drop(self.start_flight());
        }
        Check::Known(state.sids.contains(sid))
    }

    /// Refreshes (or joins the refresh in flight), then checks `sid` with whatever list is held.
    pub(crate) async fn check_after_refresh(self: &Arc<Self>, sid: &str) -> bool {
        wait(self.start_flight()).await;
        self.state.load().sids.contains(sid)
    }

    /// Which list is held: grows whenever a download changes it.
    pub(crate) fn generation(&self) -> u64 {
        self.state.load().generation
    }

    /// Downloads the list now, if it was never loaded; for start-up.
    pub(crate) async fn prefetch(self: &Arc<Self>) -> Result<(), FetchError> {
        if self.state.load().fetched_at.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            wait(self.start_flight()).await;
        }
        match self.state.load().fetched_at {
            Some(_) => Ok(()),
            None => Err(FetchError::Unusable(
                "the revocation list could not be loaded",
            )),
        }
    }

    fn start_flight(self: &Arc<Self>) -> tokio::sync::watch::Receiver<bool> {
        let list = Arc::clone(self);
        self.flight.start(move || async move {
            let sent_at = list.clock.now();
            let etag = list.state.load().etag.clone();
            let outcome = list.endpoint.get(etag.as_deref()).await;
            list.apply(sent_at, outcome);
        })
    }

    fn apply(&self, sent_at: SystemTime, outcome: Result<Document, FetchError>) {
        let previous = self.state.load_full();
        let not_modified = matches!(outcome, Ok(Document { body: None, .. }));
        let parsed = outcome.and_then(|document| {
            let sids = match document.body {
                None => Arc::clone(&previous.sids),
                Some(body) => {
                    let list: ListBody = serde_json::from_slice(&body).map_err(|_| {
                        FetchError::Unusable("the response is not a revocation list")
                    })?;
                    let sids: HashSet<String> = list.sids.into_iter().collect();
                    if sids == *previous.sids {
                        Arc::clone(&previous.sids)
                    } else {
                        Arc::new(sids)
                    }
                }
            };
            Ok((sids, document.etag))
        });
        let next = match parsed {
            Ok((sids, etag)) => {
                let result = if not_modified {
                    Fetch::NotModified
                } else {
                    Fetch::Ok
                };
                metrics::fetched(Source::Revocation, result, sent_at);
                let changed = !Arc::ptr_eq(&sids, &previous.sids);
                tracing::debug!(
                    url = %self.endpoint.display(),
                    revoked = sids.len(),
                    "revocation list loaded"
                );
                ListState {
                    sids,
                    generation: previous.generation + u64::from(changed),
                    etag,
                    fetched_at: Some(sent_at),
                    retry_at: None,
                    failures: 0,
                }
            }
            Err(error) => {
                metrics::fetched(Source::Revocation, Fetch::Error, sent_at);
                let failures = previous.failures.saturating_add(1);
                let delay = self.retry_backoff.delay(failures);
                tracing::warn!(
                    url = %self.endpoint.display(),
                    %error,
                    failures,
                    retry_in_seconds = delay.as_secs(),
                    "revocation list fetch failed; the last list keeps applying"
                );
                ListState {
                    sids: Arc::clone(&previous.sids),
                    generation: previous.generation,
                    etag: previous.etag.clone(),
                    fetched_at: previous.fetched_at,
                    retry_at: Some(self.clock.now() + delay),
                    failures,
                }
            }
        };
        self.state.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use reqwest::Client;

    use super::*;
    use crate::clock::ManualClock;

    fn list() -> RevocationList {
        let second = Duration::from_secs(1);
        RevocationList::new(
            Url::parse("http://127.0.0.1:9/revoked-sessions").unwrap(),
            Fetcher {
                client: Client::new(),
                timeout: second,
            },
            Arc::new(ManualClock::new(SystemTime::now())),
            &RevocationSettings::default(),
            Backoff {
                first: second,
                max: second,
            },
        )
    }

    fn downloaded(body: Option<&str>) -> Result<Document, FetchError> {
        Ok(Document {
            body: body.map(|body| body.as_bytes().to_vec()),
            max_age: None,
            etag: None,
        })
    }

    #[test]
    fn the_generation_moves_only_when_a_download_changes_the_list() {
        let list = list();
        let now = SystemTime::now();
        list.apply(now, downloaded(Some(r#"{"sids": ["a", "b"]}"#)));
        let first = list.generation();

        list.apply(now, downloaded(Some(r#"{"sids": ["b", "a"]}"#)));
        assert_eq!(list.generation(), first, "the same set, reordered");
        list.apply(now, downloaded(None));
        assert_eq!(list.generation(), first, "304 Not Modified");
        list.apply(now, Err(FetchError::Unusable("down")));
        assert_eq!(list.generation(), first, "a failed download");

        list.apply(now, downloaded(Some(r#"{"sids": ["a", "b", "c"]}"#)));
        assert_eq!(list.generation(), first + 1, "a new revocation");
    }
}
