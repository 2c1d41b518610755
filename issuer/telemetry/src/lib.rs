//! What the issuer and the example services share to be observable, set up in one place:
//!
//! - [`init`]: logs on stderr (`RUST_LOG`, default [`DEFAULT_LOG_FILTER`]; `LOG_FORMAT=text|json`) and, when
//!   `SENTRY_DSN` is set, error reporting to Sentry, scrubbed of tokens, passwords, cookies and
//!   `Authorization` headers ([`scrub`]);
//! - [`instrument`]: the layers around a router: `x-request-id` (the client's when it is short
//!   visible ASCII, a new UUID otherwise), a span per request (method, route, request id) and
//!   one line when it ends (status, latency; target [`ACCESS_LOG`], `warn` for a 5xx, `info`
//!   otherwise), a request-duration histogram, Sentry reports of 5xx answers and panics;
//! - [`metrics_router`]: `GET /metrics`, every metric of the process in Prometheus text format
//!   (the recorder is installed by [`init`], or by the router if `init` was not called).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use axum::http::StatusCode;
//! use axum::response::IntoResponse;
//! use telemetry::TelemetryArgs;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let _telemetry = telemetry::init("my-service", "1.0.0", &TelemetryArgs::from_env()?)?;
//! let app: Router = telemetry::instrument(
//!     Router::new().route("/", get(|| async { "hello" })),
//!     || StatusCode::INTERNAL_SERVER_ERROR.into_response(),
//!     std::time::Duration::from_secs(30),
//! );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod config;
mod http;
mod init;
mod metrics;
mod request_id;
pub mod scrub;
mod server;

pub use config::{InvalidDsn, LogFormat, TelemetryArgs};
pub use http::{ACCESS_LOG, instrument};
pub use init::{DEFAULT_LOG_FILTER, Telemetry, TelemetryError, init};
pub use metrics::{METRICS_PATH, REQUEST_DURATION_SECONDS, install_metrics, metrics_router};
pub use request_id::REQUEST_ID_HEADER;
pub use server::{ServerLimits, serve};
