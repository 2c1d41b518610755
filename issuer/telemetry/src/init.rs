//! Process-wide set-up, once, from `main`: the log subscriber and, when `SENTRY_DSN` is set,
//! the Sentry client.

use std::borrow::Cow;
use std::io::{BufWriter, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use sentry::ClientInitGuard;
use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use sentry::protocol::Event;
use tracing::Level;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{self, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{InvalidDsn, LogFormat, TelemetryArgs};
use crate::http::tags;
use crate::scrub::{scrub_breadcrumb, scrub_event};

/// The log filter when `RUST_LOG` is not set: the service's own events from `info` up, and
/// of the per-request lines ([`ACCESS_LOG`](crate::ACCESS_LOG)) only those of 5xx answers
/// (`warn`). A line per request would cost the shipped service about a tenth of its
/// throughput (BENCHMARKS.md) for what the request-duration histogram counts already;
/// `RUST_LOG=info` brings it back.
pub const DEFAULT_LOG_FILTER: &str = "info,http_access=warn";

/// How long events still queued may take to leave at shutdown.
const SENTRY_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Log lines waiting for the writer thread, at most; beyond that, new lines are dropped
/// rather than make a request wait for stderr (a stalled log collector).
const MAX_QUEUED_LOG_LINES: usize = 128_000;
/// The writer thread's buffer: up to this many bytes of queued lines go out in one write.
const LOG_BUFFER_BYTES: usize = 64 * 1024;

/// Keeps telemetry running; dropping it (at the end of `main`) writes the log lines still
/// queued and sends what Sentry still has queued, for at most two seconds.
#[must_use = "dropping the guard stops error reporting and loses queued log lines"]
pub struct Telemetry {
    // Dropped in this order: the last log lines first, then Sentry's queue.
    _logs: WorkerGuard,
    _sentry: Option<ClientInitGuard>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("sentry", &self._sentry.is_some())
            .finish_non_exhaustive()
    }
}

/// Telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `SENTRY_DSN` does not parse.
    #[error(transparent)]
    Dsn(#[from] InvalidDsn),
    /// A log subscriber was installed already (telemetry set up twice).
    #[error("logging is already set up")]
    AlreadyInitialised,
}

/// Sets up logging (`RUST_LOG`, default [`DEFAULT_LOG_FILTER`]; `LOG_FORMAT`) to stderr, the Prometheus
/// recorder behind [`metrics_router`](crate::metrics_router) and, when a DSN is configured,
/// Sentry: error-level log events become Sentry events, `info`/`warn` lines
/// breadcrumbs, panics are reported, and everything is scrubbed before it is sent
/// ([`crate::scrub`]). `service` and `version` make the default release, `service@version`.
///
/// Sending happens on Sentry's own thread through a bounded queue: a slow or unreachable
/// Sentry drops events, it never blocks a request.
///
/// # Errors
/// The DSN does not parse, or telemetry was set up already.
pub fn init(
    service: &'static str,
    version: &'static str,
    args: &TelemetryArgs,
) -> Result<Telemetry, TelemetryError> {
    let sentry = match args.sentry_dsn()? {
        Some(dsn) => {
            let mut options = sentry::ClientOptions::default();
            options.dsn = Some(dsn);
            options.release = Some(Cow::Owned(
                args.sentry_release
                    .clone()
                    .unwrap_or_else(|| format!("{service}@{version}")),
            ));
            options.environment = args.sentry_environment.clone().map(Cow::Owned);
            options.send_default_pii = false;
            options.before_send = Some(Arc::new(|event| scrub_event(tag_panic(event))));
            options.before_breadcrumb = Some(Arc::new(scrub_breadcrumb));
            options.shutdown_timeout = SENTRY_SHUTDOWN_TIMEOUT;
            Some(sentry::init(options))
        }
        None => None,
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let (stderr, logs) = stderr_writer();
    let (text, json) = match args.log_format {
        LogFormat::Text => (Some(text_lines(stderr)), None),
        LogFormat::Json => (None, Some(json_lines(stderr))),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(sentry.as_ref().map(|_| sentry_layers()))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    crate::install_metrics();
    Ok(Telemetry {
        _logs: logs,
        _sentry: sentry,
    })
}

/// Where log lines go: stderr, written by a thread of their own. A request formats its line
/// and queues it; the thread writes whatever has queued in one system call (a buffered
/// stderr, flushed each time the queue runs dry), so a busy service makes one write per batch,
/// not one per line. When the queue is full (stderr blocked), lines are dropped: a lost log
/// line must not cost a request.
fn stderr_writer() -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(MAX_QUEUED_LOG_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(
            LOG_BUFFER_BYTES,
            std::io::stderr(),
        ))
}

/// A panic inside a request is answered 500 (the panic layer of [`crate::instrument`]): its
/// report gets the status tag the request's other tags were set without.
fn tag_panic(mut event: Event<'static>) -> Event<'static> {
    let panicked = event.exception.iter().any(|exception| {
        exception
            .mechanism
            .as_ref()
            .is_some_and(|m| m.ty == "panic")
    });
    if panicked && event.tags.contains_key(tags::ROUTE) {
        event.tags.insert(tags::STATUS.into(), "500".into());
    }
    event
}

/// Error-level events become Sentry events, except inside a request: those ride as
/// breadcrumbs on the request's own report (its 5xx), which carries method, route and status.
/// `info` and `warn` lines are breadcrumbs.
fn sentry_layers<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // Spans must pass this filter too: a per-layer filter does not see the spans it refuses.
    let outside_requests = filter::dynamic_filter_fn(|metadata, context| {
        metadata.is_span()
            || *metadata.level() == Level::ERROR
                && !context.lookup_current().is_some_and(|span| {
                    span.scope()
                        .any(|span| span.name() == crate::http::REQUEST_SPAN)
                })
    });
    ErrorLayer::new()
        .with_filter(outside_requests)
        .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
}

/// Human-readable lines on stderr, coloured on a terminal.
fn text_lines<S>(stderr: NonBlocking) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // The default reports a failed log write with `eprintln!`, which panics when stderr is
        // gone (a log collector that died): every request would then answer 500. A lost log
        // line must not cost a request.
        .log_internal_errors(false)
}

/// One JSON object per line on stderr, with the current span's fields (method, route,
/// request id) flattened into each line.
fn json_lines<S>(stderr: NonBlocking) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(stderr)
        .log_internal_errors(false)
}
