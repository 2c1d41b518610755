//! What `user-service` and `raider-service` share: configuration from the environment, the
//! verifier, health endpoints, request logging and graceful shutdown. Each binary adds only its
//! routes; see [`user`] and [`raider`] for how a route is protected.

mod caller;
pub mod config;
pub mod raider;
pub mod user;

use std::process::ExitCode;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use verifier_middleware::Verifier;

use crate::config::ServiceConfig;

/// Runs a service: reads its configuration, protects `routes` with the verifier, adds
/// `/healthz`, `/readyz` and `/metrics`, and serves until SIGTERM or Ctrl-C. A bad setting ends
/// the process with one line on stderr and exit code 1.
pub async fn main(name: &'static str, default_port: u16, routes: Router) -> ExitCode {
    let telemetry = telemetry::TelemetryArgs::from_env()
        .map_err(|error| error.to_string())
        .and_then(|args| {
            telemetry::init(name, env!("CARGO_PKG_VERSION"), &args).map_err(|e| e.to_string())
        });
    let _telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{name}: error: {error}");
            return ExitCode::FAILURE;
        }
    };
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
    let limits = telemetry::ServerLimits::from_env()?;
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
    let app = app(routes, verifier, limits.request_timeout);
    telemetry::serve(listener, app, &limits, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// `routes` behind the verifier, plus the unauthenticated health endpoints and `/metrics`
/// (Prometheus text: requests, and the verifier's verifications, key fetches and cache),
/// request logging, JSON 404s and `X-Content-Type-Options: nosniff` on every response (bodies
/// are JSON only).
pub fn app(routes: Router, verifier: Verifier, request_timeout: Duration) -> Router {
    let health = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .with_state(verifier.clone())
        .merge(telemetry::metrics_router());
    let app = routes
        .layer(verifier.layer())
        .merge(health)
        .fallback(not_found);
    telemetry::instrument(app, internal_error, request_timeout).layer(
        SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
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

/// The answer to a request whose handler panicked (reported to Sentry when it is on).
fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "server_error", "error_description": "internal error" })),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": "no such route" })),
    )
        .into_response()
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
