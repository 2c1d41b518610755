//! A local stand-in for Sentry's ingestion endpoint: an HTTP server on 127.0.0.1:0 that
//! records the events of every envelope posted to it. Shared by the telemetry tests and the
//! example services' end-to-end tests (`#[path]`-included there).

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::watch;

/// Bound on waiting for a report to arrive; one takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// The events received so far, and where the receiver listens.
#[derive(Clone)]
pub(crate) struct Envelopes {
    port: u16,
    events: watch::Receiver<Vec<Value>>,
}

impl Envelopes {
    /// Starts the receiver on the current runtime.
    pub(crate) async fn start() -> Self {
        let (sender, events) = watch::channel(Vec::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().route(
            "/api/{project}/envelope/",
            post(move |body: String| {
                sender.send_modify(|events| events.extend(events_in(&body)));
                async { StatusCode::OK }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, events }
    }

    /// A DSN that sends to this receiver.
    pub(crate) fn dsn(&self) -> String {
        format!("http://public@127.0.0.1:{}/1", self.port)
    }

    /// The first event whose tag `tag` is `value`, waiting for it to arrive (bounded).
    pub(crate) async fn event_tagged(&self, tag: &str, value: &str) -> Value {
        let mut events = self.events.clone();
        let wait = events.wait_for(|events| events.iter().any(|e| e["tags"][tag] == value));
        let events = tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("no event tagged {tag}={value}"))
            .unwrap();
        events
            .iter()
            .find(|e| e["tags"][tag] == value)
            .unwrap()
            .clone()
    }

    /// How many events received so far have the tag `tag` set to `value`.
    pub(crate) fn count_tagged(&self, tag: &str, value: &str) -> usize {
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
