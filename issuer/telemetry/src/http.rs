//! The layers every service puts around its router: request ids, one log line per request,
//! and Sentry reports of server errors and panics.
//!
//! A request's id is the client's `x-request-id` only when it is one value of 1 to 128 bytes of
//! visible ASCII (`0x21..=0x7E`); otherwise (absent, longer, with a space or control character,
//! not UTF-8, repeated) the request gets a fresh UUID, and that one is what its log line, its
//! span, its Sentry tag and the response's `x-request-id` carry. A client therefore cannot
//! write 8 KiB values or arbitrary bytes into the logs through this header.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sentry::integrations::tower::NewSentryLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::metrics::REQUEST_DURATION_SECONDS;
use crate::request_id::{REQUEST_ID_HEADER, drop_unacceptable_request_id};

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

/// Marks the response [`CatchPanicLayer`] built: the panic was reported already.
#[derive(Clone, Copy)]
struct PanicReported;

/// Wraps `router` (with its state applied) in, from the outside in:
/// - `x-request-id`: kept from the request when it is one value of 1 to 128 bytes of visible
///   ASCII, a new UUID otherwise (the client's unacceptable id is dropped, never logged), and
///   returned on the response;
/// - Sentry's per-request scope (a no-op when Sentry is off). Reports carry the route
///   template, never the URL: raw paths and query strings can hold ids and tokens;
/// - one `info` line per request in a span holding method, route and request id, with status
///   and latency;
/// - the request's duration in the [`REQUEST_DURATION_SECONDS`] histogram, by method, route
///   and status;
/// - a report to Sentry of every 5xx answer, tagged with method, route, status and request id
///   (4xx are the client's business and are never reported); error logs written while the
///   request ran are its breadcrumbs;
/// - panics caught and answered with `panic_response()` (a 500 in the service's error
///   format), reported once, by Sentry's panic handler;
/// - innermost, a request not answered within `request_timeout` (`REQUEST_TIMEOUT`, see
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
    router
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            answer_within(request_timeout, request, next)
        }))
        .layer(CatchPanicLayer::custom(move |_| {
            let mut response = panic_response();
            response.extensions_mut().insert(PanicReported);
            response
        }))
        .layer(middleware::from_fn(observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                // 5xx are logged by `log_response` and reported by `report_server_errors`.
                .on_failure(()),
        )
        .layer(NewSentryLayer::<Request>::new_from_top())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outermost: `SetRequestIdLayer` keeps any id it finds, so a bad one goes first.
        .layer(middleware::map_request(drop_unacceptable_request_id))
}

/// The handler's answer, or 503 `temporarily_unavailable` + `Retry-After: 1` (the JSON error
/// shape every binary answers in) when it takes longer than `timeout`.
async fn answer_within(timeout: Duration, request: Request, next: Next) -> Response {
    if let Ok(response) = tokio::time::timeout(timeout, next.run(request)).await {
        return response;
    }
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

/// The route template that matched, or [`UNMATCHED_ROUTE`]: raw paths can hold ids.
fn route(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
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

fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// The request's span: method, route and request id; no query strings, headers or bodies.
fn request_span(request: &Request) -> Span {
    tracing::info_span!(
        REQUEST_SPAN,
        method = %request.method(),
        route = route(request),
        request_id = request_id(request),
    )
}

/// One line per request at `info`, in the request's span: status and latency.
fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        // A number with microseconds, not an integer: most answers take under a millisecond.
        latency_ms = latency.as_secs_f64() * 1000.0,
        "response"
    );
}

/// Tags the request's Sentry scope, times the request, and reports the answer if it is a 5xx
/// that no panic report covers already.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route(&request).to_owned();
    sentry::configure_scope(|scope| {
        scope.set_tag(tags::METHOD, &method);
        scope.set_tag(tags::ROUTE, &route);
        scope.set_tag(tags::REQUEST_ID, request_id(&request));
    });
    let response = next.run(request).await;
    let status = response.status();
    ::metrics::histogram!(
        REQUEST_DURATION_SECONDS,
        "method" => method_label(&method),
        "route" => route.clone(),
        "status" => status.as_str().to_owned(),
    )
    .record(started.elapsed());
    if status.is_server_error() && response.extensions().get::<PanicReported>().is_none() {
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
    response
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
