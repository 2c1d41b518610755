//! What `user-service` and `raider-service` share: configuration from the environment, the
//! verifier, health endpoints, request logging and graceful shutdown. Each binary adds only its
//! routes; see [`user`] and [`raider`] for how a route is protected.

pub mod config;
pub mod raider;
pub mod user;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use verifier_middleware::Verifier;

use crate::config::ServiceConfig;

/// Runs a service: reads its configuration, protects `routes` with the verifier, adds
/// `/healthz` and `/readyz`, and serves until SIGTERM or Ctrl-C. A bad setting ends the process
/// with one line on stderr and exit code 1.
pub async fn main(name: &'static str, default_port: u16, routes: Router) -> ExitCode {
    init_tracing();
    match serve(name, default_port, routes).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(name: &'static str, default_port: u16, routes: Router) -> Result<(), String> {
    let config = ServiceConfig::from_env(default_port).map_err(|e| e.to_string())?;
    let verifier = config.verifier().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("HOST/PORT: cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Start without the issuer if need be: requests get 503 until the keys arrive.
    let warm_up = verifier.clone();
    tokio::spawn(async move {
        if warm_up.prefetch().await.is_err() {
            tracing::warn!("issuer keys not available yet; answering 503 until they are");
        }
    });
    tracing::info!(%address, "{name} listening");
    axum::serve(listener, app(routes, verifier))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// `routes` behind the verifier, plus the unauthenticated health endpoints, request logging,
/// JSON 404s and `X-Content-Type-Options: nosniff` on every response (bodies are JSON only).
pub fn app(routes: Router, verifier: Verifier) -> Router {
    let health = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .with_state(verifier.clone());
    routes
        .layer(verifier.layer())
        .merge(health)
        .fallback(not_found)
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response),
        )
}

/// 200 once the verifier holds keys; 503 while it waits for the issuer.
async fn ready(State(verifier): State<Verifier>) -> Response {
    if verifier.has_keys() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "waiting for the issuer's keys" })),
        )
            .into_response()
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": "no such route" })),
    )
        .into_response()
}

/// Names the request's span: method and route (the template, or the path when none matched);
/// no query strings, headers or bodies.
fn request_span(request: &Request) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    tracing::info_span!("request", method = %request.method(), route)
}

/// One line per request at `info`, in the request's span: status and latency.
fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis(),
        "response"
    );
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A failed log write (stderr gone) must not fail a request.
        .log_internal_errors(false)
        .init();
}

/// Resolves on SIGTERM or Ctrl-C; the server then finishes in-flight requests.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
