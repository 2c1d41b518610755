//! Serving a router with the limits a public HTTP service needs, the same in every binary:
//!
//! - **a header read timeout** (`HEADER_READ_TIMEOUT`, 65 s): a connection whose client has not
//!   sent a complete request head within it is closed, whether it sent part of one (a
//!   slowloris) or nothing at all (an idle connection, a fresh one or a keep-alive one between
//!   requests). No answer is possible: the request is not known yet. hyper times the wait for
//!   the next request on a kept-alive connection with the same clock, so the default stays
//!   above the idle timeout of common load balancers (60 s), which must not see their pooled
//!   connections closed under them;
//! - **a request timeout** (`REQUEST_TIMEOUT`, 30 s): applied by [`instrument`](crate::instrument),
//!   inside the request's log line, metrics and Sentry scope;
//! - **a connection cap** (`MAX_CONNECTIONS`, 4096): beyond it no connection is accepted until
//!   one ends; the others wait in the kernel's accept queue (and time out there, on the
//!   client's side, if none ends). Give the process that many file descriptors (`ulimit -n`).
//!
//! `axum::serve` has no header read timeout and no connection cap, so [`serve`] is its
//! equivalent on hyper's HTTP/1 server with both, the same `ConnectInfo<SocketAddr>` for the
//! handlers, and a graceful shutdown that finishes the requests in flight.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use clap::{Args, Parser};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// The HTTP server's limits, as environment variables or (in the issuer) same-named flags.
#[derive(Debug, Clone, Args)]
pub struct ServerLimits {
    /// A request not answered within this is answered 503 (its body's reading included).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = duration, global = true)]
    pub request_timeout: Duration,
    /// A connection that has not sent a complete request head within this is closed (also an
    /// idle keep-alive connection: keep it above a load balancer's idle timeout).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "65s", value_parser = duration, global = true)]
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "4096", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_connections: u32,
}

/// For services configured from the environment only.
#[derive(Parser)]
struct FromEnv {
    #[command(flatten)]
    args: ServerLimits,
}

impl ServerLimits {
    /// Reads the limits from the environment. The error is one line naming the variable.
    ///
    /// # Errors
    /// A variable holds a value that cannot be used.
    pub fn from_env() -> Result<Self, String> {
        FromEnv::try_parse_from(["service"])
            .map(|parsed| parsed.args)
            .map_err(|error| crate::config::first_line(&error.to_string()))
    }
}

/// A duration of at least 1 ms (`30s`, `500ms`, `2m`).
fn duration(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw) {
        Ok(duration) if duration >= Duration::from_millis(1) => Ok(duration),
        Ok(_) => Err("must be at least 1ms".to_owned()),
        Err(_) => Err(format!("'{raw}' is not a duration (e.g. 30s, 500ms)")),
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the connections' requests in flight (at most one request timeout).
///
/// # Errors
/// None today: accept errors (a full file-descriptor table, say) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Turns every handler into its service once, as `axum::serve` does: a router called
    // without it converts the handler of each request again (a clone and boxing per request).
    let router: Router = router.with_state(());
    let connections = Arc::new(Semaphore::new(limits.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tracing::trace!(%remote, "connection accepted");
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                router.clone().call(request)
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the request timeout; stopping anyway");
    }
    Ok(())
}

/// A refused accept. Errors of the one connection are passed over; others (a full
/// file-descriptor table, out of memory) are logged and the loop pauses briefly, so that it
/// does not spin while nothing can be accepted.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept connections; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
