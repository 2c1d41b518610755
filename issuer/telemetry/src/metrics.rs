//! Prometheus metrics: one recorder per process for everything recorded through the
//! [`metrics`](::metrics) facade (this crate's request histogram, the issuer's counters, the
//! verifier's), served as Prometheus text at `GET /metrics` by [`metrics_router`].
//!
//! `/metrics` is answered on the service's own port, without authentication, like `/healthz`:
//! keep it off the public ingress (the figures say how many logins fail, not whose).

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::Histogram;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";
/// Histogram: seconds from a request's arrival to its response head, by `method`, `route`
/// (the template, `unmatched` for none) and `status`.
pub const REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";

/// Upper bounds of the request-duration buckets, in seconds: from a cached token check
/// (well under a millisecond) to an argon2 login queued behind others (seconds).
const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes (a scrape
/// folds them too); this bounds the memory they hold.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The `Content-Type` of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's Prometheus recorder, installed as the global `metrics` recorder on first use.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION_SECONDS.to_owned()),
                REQUEST_DURATION_BUCKETS,
            )
            // Only an empty list is refused.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed: /metrics shows only what reaches this one"
            );
        }
        ::metrics::describe_histogram!(
            REQUEST_DURATION_SECONDS,
            ::metrics::Unit::Seconds,
            "Time from a request's arrival to its response, by method, route template and status."
        );
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread not started; scrapes still fold samples");
        }
        handle
    })
}

/// Installs the Prometheus recorder as the process's `metrics` recorder, once; later calls do
/// nothing. [`init`](crate::init) calls it, so that libraries built afterwards (the verifier)
/// find it and describe their metrics to it.
pub fn install_metrics() {
    recorder();
}

/// The route `GET /metrics`: every metric recorded in this process, in Prometheus text format.
/// Installs the recorder if [`install_metrics`] has not.
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .merge(telemetry::metrics_router());
/// # let _ = app;
/// ```
pub fn metrics_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    install_metrics();
    Router::new().route(METRICS_PATH, get(render))
}

async fn render() -> impl IntoResponse {
    ([(CONTENT_TYPE, PROMETHEUS_TEXT)], recorder().render())
}

/// The [`REQUEST_DURATION_SECONDS`] histogram of each route template, method and status,
/// registered on first use and then recorded through its handle: a request costs one read
/// lock and a map lookup, not the allocation of its labels and a registry search. The number
/// of entries is bounded: routes are templates, methods are [`method_label`]s, statuses are
/// three digits.
///
/// [`method_label`]: crate::http
#[derive(Default)]
pub(crate) struct RequestDurations {
    by_route: RwLock<HashMap<Box<str>, ByMethodAndStatus>>,
}

/// One route's histograms, by method label and status code.
type ByMethodAndStatus = HashMap<(&'static str, u16), Histogram>;

impl RequestDurations {
    /// Records one request's duration.
    pub(crate) fn record(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let read = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(histogram) = read
            .get(route)
            .and_then(|by_method| by_method.get(&(method, status)))
        {
            histogram.record(took);
            return;
        }
        drop(read);
        let histogram = ::metrics::histogram!(
            REQUEST_DURATION_SECONDS,
            "method" => method,
            "route" => route.to_owned(),
            "status" => status.to_string(),
        );
        histogram.record(took);
        self.by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(Box::from(route))
            .or_default()
            .insert((method, status), histogram);
    }
}
