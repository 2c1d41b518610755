//! A local stand-in for Sentry's ingestion endpoint: an HTTP server on 127.0.0.1:0 that records
//! the events of every envelope posted to it. Point a Sentry client (in-process, or a real
//! binary through `SENTRY_DSN`) at [`Envelopes::dsn`] and wait for its reports by tag.
//!
//! ```no_run
//! use test_support::sentry::Envelopes;
//!
//! # async fn demo() {
//! let envelopes = Envelopes::start().await;
//! // ... run something with SENTRY_DSN = envelopes.dsn() that fails request `req-1` ...
//! let event = envelopes.event_tagged("request_id", "req-1").await;
//! assert_eq!(event["tags"]["http.status_code"], "503");
//! # }
//! ```

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::watch;

use crate::wait::PATIENCE;

/// The events received so far, and where the receiver listens.
#[derive(Clone)]
pub struct Envelopes {
    host: String,
    events: watch::Receiver<Vec<Value>>,
}

impl Envelopes {
    /// Starts the receiver on the current runtime; it serves as long as the runtime runs.
    pub async fn start() -> Self {
        let (sender, events) = watch::channel(Vec::new());
        let app = Router::new().route(
            "/api/{project}/envelope/",
            post(move |body: String| {
                sender.send_modify(|events| events.extend(events_in(&body)));
                async { StatusCode::OK }
            }),
        );
        let url = crate::serve(app).await;
        let host = url.trim_start_matches("http://").to_owned();
        Self { host, events }
    }

    /// A DSN that sends to this receiver.
    pub fn dsn(&self) -> String {
        format!("http://public@{}/1", self.host)
    }

    /// The first event whose tag `tag` is `value`, waiting for it to arrive (at most
    /// [`PATIENCE`]).
    pub async fn event_tagged(&self, tag: &str, value: &str) -> Value {
        let mut events = self.events.clone();
        let wait = events.wait_for(|events| events.iter().any(|e| e["tags"][tag] == value));
        let events = tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("no event tagged {tag}={value}"))
            .expect("the receiver is running");
        events
            .iter()
            .find(|e| e["tags"][tag] == value)
            .expect("the event waited for")
            .clone()
    }

    /// How many events received so far have the tag `tag` set to `value`.
    pub fn count_tagged(&self, tag: &str, value: &str) -> usize {
        let events = self.events.borrow();
        events.iter().filter(|e| e["tags"][tag] == value).count()
    }
}

/// The event payloads of an envelope: its lines that are events (they carry `platform`).
fn events_in(envelope: &str) -> Vec<Value> {
    envelope
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|item| item.get("platform").is_some())
        .collect()
}
