//! What every service puts around its router: request ids, a span and a log line per request,
//! the request-duration histogram, and Sentry reports of server errors and panics.
//!
//! A request's id is the client's `x-request-id` only when it is one value of 1 to 128 bytes of
//! visible ASCII (`0x21..=0x7E`); otherwise (absent, longer, with a space or control character,
//! not UTF-8, repeated) the request gets a fresh UUID, and that one is what its log line, its
//! span, its Sentry tag and the response's `x-request-id` carry. A client therefore cannot
//! write 8 KiB values or arbitrary bytes into the logs through this header.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sentry::integrations::tower::NewSentryLayer;
use tower::{Layer, Service, ServiceBuilder};
use tracing::{Instrument, Span};

use crate::metrics::RequestDurations;
use crate::request_id::{REQUEST_ID_HEADER, assign_request_id};

/// The log target of the line each request ends with (`RUST_LOG` names it): by default only
/// the lines of 5xx answers are written (`warn`); `RUST_LOG=info` writes one per request.
pub const ACCESS_LOG: &str = "http_access";

/// The name of every request's span; error logs inside it ride on the request's report.
pub(crate) const REQUEST_SPAN: &str = "request";
/// The route of a request that matched none.
const UNMATCHED_ROUTE: &str = "unmatched";

/// Sentry tags on reports of requests.
pub(crate) mod tags {
    /// `GET`, `POST`, ...
    pub(crate) const METHOD: &str = "http.method";
    /// The route template (`/book`, `/public-key/{kid}`), never the raw path.
    pub(crate) const ROUTE: &str = "http.route";
    /// The response status.
    pub(crate) const STATUS: &str = "http.status_code";
    /// The `x-request-id` of the request.
    pub(crate) const REQUEST_ID: &str = "request_id";
}

/// Wraps `router` (with its state applied) so that every request gets:
/// - `x-request-id`: kept from the request when it is one value of 1 to 128 bytes of visible
///   ASCII, a new UUID otherwise (the client's unacceptable id is dropped, never logged), and
///   returned on the response;
/// - Sentry's per-request scope, when a Sentry client is set up at the time of the call
///   ([`init`](crate::init) with `SENTRY_DSN`): call `instrument` after `init`. Reports carry
///   the route template, never the URL: raw paths and query strings can hold ids and tokens;
/// - a span holding method, route and request id, and one line when the request ends, with
///   status and latency, target [`ACCESS_LOG`]: `warn` for a 5xx, `info` otherwise (written
///   by default only for a 5xx, see [`DEFAULT_LOG_FILTER`](crate::DEFAULT_LOG_FILTER));
/// - the request's duration in the
///   [`REQUEST_DURATION_SECONDS`](crate::REQUEST_DURATION_SECONDS) histogram, by method, route
///   and status;
/// - a report to Sentry of every 5xx answer, tagged with method, route, status and request id
///   (4xx are the client's business and are never reported); error logs written while the
///   request ran are its breadcrumbs;
/// - panics caught and answered with `panic_response()` (a 500 in the service's error
///   format), reported once, by Sentry's panic handler;
/// - a request not answered within `request_timeout` (`REQUEST_TIMEOUT`, see
///   [`ServerLimits`](crate::ServerLimits)) answered 503 `temporarily_unavailable` with
///   `Retry-After: 1`, its handler dropped: logged, measured and reported like any 503.
pub fn instrument<S>(
    router: Router<S>,
    panic_response: fn() -> Response,
    request_timeout: Duration,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let sentry_on = sentry::Hub::current().client().is_some();
    // One `Router::layer` call: each one boxes the routes again, and every box is a clone and
    // an allocation per request. Everything but Sentry's hub is one service, [`Observe`]:
    // one span, one clock reading at each end and one allocation per request.
    let layers = ServiceBuilder::new()
        .option_layer(sentry_on.then(NewSentryLayer::<Request>::new_from_top))
        .layer(ObserveLayer {
            shared: Arc::new(Shared {
                durations: RequestDurations::default(),
                panic_response,
                request_timeout,
                sentry_on,
            }),
        });
    router.layer(layers)
}

/// What every clone of [`Observe`] shares.
struct Shared {
    durations: RequestDurations,
    panic_response: fn() -> Response,
    request_timeout: Duration,
    sentry_on: bool,
}

/// Times, bounds, catches and reports each request: [`Observe`] around a route.
#[derive(Clone)]
struct ObserveLayer {
    shared: Arc<Shared>,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// All of [`instrument`] but Sentry's hub: the request id, the span and log line, the
/// request-duration histogram, Sentry's tags and reports of 5xx answers, the request timeout
/// and the panic answer, in one service and one allocation per request.
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone is not ready; the one `poll_ready` was called on goes with the request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(observe(inner, Arc::clone(&self.shared), request))
    }
}

/// Gives the request its id, tags its Sentry scope, answers within the request timeout (503
/// otherwise) and with the panic answer if the handler panics, all inside the request's span;
/// then logs, times and, if it is a 5xx that no panic report covers already, reports the
/// answer, which leaves with the request's id.
async fn observe<S>(
    mut inner: S,
    shared: Arc<Shared>,
    mut request: Request,
) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let id = assign_request_id(request.headers_mut());
    let method = method_label(request.method());
    // A reference count, not a copy of the template.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    // Validated visible ASCII (a UUID when the client's was not).
    let id_text = id.to_str().unwrap_or_default();
    let span = request_span(request.method(), route, id_text);
    if shared.sentry_on {
        sentry::configure_scope(|scope| {
            scope.set_tag(tags::METHOD, method);
            scope.set_tag(tags::ROUTE, route);
            scope.set_tag(tags::REQUEST_ID, id_text);
        });
    }
    // `call` itself inside the catch and the span: a layer may panic or log there before any
    // future exists.
    let timeout = shared.request_timeout;
    let answer = async move { tokio::time::timeout(timeout, inner.call(request)).await };
    let answer = AssertUnwindSafe(answer)
        .catch_unwind()
        .instrument(span.clone());
    let (mut response, panicked) = match answer.await {
        Ok(Ok(Ok(response))) => (response, false),
        Ok(Ok(Err(infallible))) => match infallible {},
        Ok(Err(_elapsed)) => (too_slow(), false),
        // Sentry's panic handler has reported it already.
        Err(_panic) => ((shared.panic_response)(), true),
    };
    let latency = started.elapsed();
    let status = response.status();
    log_response(&span, status, latency);
    shared
        .durations
        .record(method, route, status.as_u16(), latency);
    if shared.sentry_on && status.is_server_error() && !panicked {
        sentry::with_scope(
            |scope| scope.set_tag(tags::STATUS, status.as_u16()),
            || {
                sentry::capture_message(
                    &format!("{} {method} {route}", status.as_u16()),
                    sentry::Level::Error,
                )
            },
        );
    }
    // A handler that set its own id keeps it.
    response
        .headers_mut()
        .entry(REQUEST_ID_HEADER)
        .or_insert(id);
    Ok(response)
}

/// The answer to a request that took longer than `REQUEST_TIMEOUT`: 503
/// `temporarily_unavailable` + `Retry-After: 1`, in the JSON error shape every binary answers
/// in.
fn too_slow() -> Response {
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "the request took too long; retry shortly",
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The method as a metric label: the standard ones by name, any other as `OTHER`, so that
/// clients inventing methods cannot add series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The request's span: method, route template and request id; no query strings, headers or
/// bodies. The route and the id are quoted in text lines: the id is the client's, and must not
/// pass for the line's own punctuation.
fn request_span(method: &Method, route: &str, request_id: &str) -> Span {
    tracing::info_span!(
        REQUEST_SPAN,
        method = %method,
        route,
        request_id,
    )
}

/// One line per request, in the request's span, with its status and latency: `warn` for a
/// 5xx, `info` for any other, under the target [`ACCESS_LOG`].
fn log_response(span: &Span, status: StatusCode, latency: Duration) {
    let status = status.as_u16();
    // A number with microseconds, not an integer: most answers take under a millisecond.
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(target: ACCESS_LOG, parent: span, status, latency_ms, "response");
    } else {
        tracing::info!(target: ACCESS_LOG, parent: span, status, latency_ms, "response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invented_method_is_one_label_whatever_its_name() {
        let brew = Method::from_bytes(b"BREW").unwrap();
        let other = Method::from_bytes(b"X-ANYTHING").unwrap();

        assert_eq!(method_label(&brew), "OTHER");
        assert_eq!(method_label(&other), "OTHER");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
