//! Building and running the application: [`Application::build`] binds the socket (port 0 in
//! tests) and wires state, routes and middleware; [`Application::run_until_stopped`] serves
//! until SIGTERM or Ctrl-C, then finishes in-flight requests.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use verifier_middleware::Verifier;

use crate::account_mail::AccountMail;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::config::Config;
use crate::email::{EmailSetupError, MailOutbox, Mailer};
use crate::error::{ApiError, InternalCause};
use crate::jobs::{self, Prunable};
use crate::keys::KeyError;
use crate::limits::{HourlyCounts, RegistrationLimit};
use crate::login::PasswordLogin;
use crate::otp::{Otp, OtpSetupError, Outbox};
use crate::passwords::{HashError, PasswordHashing};
use crate::routes;
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::storage::{OpenError, Store};
use crate::throttle::LoginThrottle;
use crate::tokens::{SessionPolicy, Signer, SigningConfig, TokenSettings};

/// Start-up failed. `Display` is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// The password hasher could not be set up.
    #[error(transparent)]
    Hashing(#[from] HashError),
    /// The SMTP transport could not be set up.
    #[error(transparent)]
    Email(#[from] EmailSetupError),
    /// The SMS provider's client could not be set up.
    #[error(transparent)]
    Otp(#[from] OtpSetupError),
    /// The verifier of the issuer's own endpoints could not be built.
    #[error("the issuer's own token verifier: {0}")]
    Verifier(#[from] verifier_middleware::BuildError),
    /// The address could not be bound.
    #[error("HOST/PORT: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// The verifier of the issuer's own endpoints (`/me` and the rest): its tokens as any service
/// checks them, with the issuer's claims and clock. The key ring is read in process as a JWKS
/// (what `/.well-known/jwks.json` serves) every `refresh` (`KEYS_RELOAD_INTERVAL`: reading it
/// costs nothing, so a key withdrawn after a compromise stops working here as soon as the ring
/// reloads, not a `JWKS_MAX_AGE` later); an HS256 issuer also checks the shared secret (and
/// the ring, so that both kinds of token work during a switch between the two).
pub fn own_verifier(
    signing: &SigningConfig,
    signer: &Arc<Signer>,
    tokens: &TokenSettings,
    clock: &Arc<dyn Clock>,
    refresh: Duration,
) -> Result<Verifier, verifier_middleware::BuildError> {
    let (ring, now) = (Arc::clone(signer), Arc::clone(clock));
    let builder = Verifier::builder()
        .issuer(&tokens.issuer)
        .audience(&tokens.audience)
        .clock(Arc::clone(clock))
        .local_jwks(move || {
            let keys = ring.jwks(unix_seconds(now.now()));
            serde_json::to_vec(&keys).unwrap_or_default()
        })
        .jwks_ttl(refresh)
        .jwks_ttl_bounds(refresh, refresh)
        .jwks_unknown_kid_cooldown(refresh);
    match signing {
        SigningConfig::Hs256 { secret } => builder.hs256_secret(secret.expose()).build(),
        SigningConfig::Rs256 => builder.build(),
    }
}

/// A built, bound, not yet serving issuer.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: telemetry::ServerLimits,
    store: Store,
    prunable: Prunable,
    passwords: PasswordHashing,
    clock: Arc<dyn Clock>,
    sessions: SessionPolicy,
    signer: Arc<Signer>,
    otp_outbox: Option<Outbox>,
    mail_outbox: Option<MailOutbox>,
}

impl Application {
    /// Builds the application with the system clock.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the application with the given clock (tests set the time this way).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let signer = Signer::load(
            &config.signing,
            config.keys.clone(),
            unix_seconds(clock.now()),
        )?;
        let store = Store::open(&config.database).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let passwords = PasswordHashing::new(config.hashing)?;
        let (otp, otp_outbox) = match &config.otp {
            Some(otp) => {
                let (otp, outbox) = Otp::build(otp, &store, &clock)?;
                (Some(Arc::new(otp)), outbox)
            }
            None => (None, None),
        };
        let signer = Arc::new(signer);
        let counts = HourlyCounts::new(store.clone(), Arc::clone(&clock));
        let (account_mail, mail_outbox) = match &config.email {
            Some(email) => {
                let (mailer, outbox) = Mailer::build(email)?;
                let mail =
                    AccountMail::new(store.clone(), mailer, counts.clone(), Arc::clone(&clock));
                (Some(mail), outbox)
            }
            None => (None, None),
        };
        let session_policy = config.tokens.sessions;
        let throttle = LoginThrottle::new(store.clone(), config.login_throttle, Arc::clone(&clock));
        let tokens = Arc::new(config.tokens);
        let verifier = own_verifier(
            &config.signing,
            &signer,
            &tokens,
            &clock,
            config.keys.reload_interval,
        )?;
        let state = AppState {
            store: store.clone(),
            signer: Arc::clone(&signer),
            passwords: passwords.clone(),
            login: PasswordLogin::new(store.clone(), passwords.clone(), throttle.clone()),
            registrations: RegistrationLimit::new(
                counts.clone(),
                config.accounts.registrations_per_client,
            ),
            sessions: Sessions::new(
                store.clone(),
                Arc::clone(&signer),
                Arc::clone(&clock),
                Arc::clone(&tokens),
            ),
            clock: Arc::clone(&clock),
            tokens,
            jwks_max_age: config.jwks_max_age,
            self_service_roles: config.accounts.self_service_roles.into(),
            registration_open: config.accounts.registration_open,
            otp: otp.clone(),
            require_email_verification: config
                .email
                .as_ref()
                .is_some_and(|email| email.require_verification),
            registration_enumeration_safe: config
                .email
                .as_ref()
                .is_some_and(|email| email.enumeration_safe),
            account_mail,
        };
        let prunable = Prunable {
            store: store.clone(),
            throttle,
            counts,
            otp_limits: otp.as_ref().map(|otp| otp.limits.clone()),
        };
        // The recorder first, so that the issuer's metrics are described to it.
        let metrics = telemetry::metrics_router();
        crate::metrics::describe();
        let switches = routes::Switches {
            otp: otp.is_some(),
            registration: config.accounts.registration_open,
            email: config.email.is_some(),
        };
        let router = routes::router(switches, &verifier)
            .merge(metrics)
            .layer(config.client_ip_source.into_extension());
        let router = with_body_limit(router, config.body_limit_bytes)
            .layer(middleware::from_fn(log_internal_causes));
        let internal = || ApiError::Internal("handler panicked".into()).into_response();
        let router = telemetry::instrument(router, internal, config.server_limits.request_timeout);
        // Outside the telemetry, so that its timeout and panic answers carry CORS headers too
        // (a browser page could not read them otherwise); preflights are answered before it.
        let router = config.cors.apply(router);
        let router = with_security_headers(router).with_state(state);
        Ok(Self {
            listener,
            router,
            limits: config.server_limits,
            store,
            prunable,
            passwords,
            clock,
            sessions: session_policy,
            signer,
            otp_outbox,
            mail_outbox,
        })
    }

    /// The bound port (useful when the configuration asked for port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The database handle, for operations outside HTTP (and for tests that take it away).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The password hasher, whose [`PasswordHashing::stats`] show hashing work in progress.
    pub fn passwords(&self) -> &PasswordHashing {
        &self.passwords
    }

    /// Where the local OTP provider "sends" its codes (`OTP_PROVIDER=local` only): the test
    /// hook for reading a code without a phone.
    pub fn otp_outbox(&self) -> Option<&Outbox> {
        self.otp_outbox.as_ref()
    }

    /// Where the local mail sender "sends" (`EMAIL_PROVIDER=local` only): the test hook for
    /// reading a mailed token without a mailbox.
    pub fn mail_outbox(&self) -> Option<&MailOutbox> {
        self.mail_outbox.as_ref()
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then drains in-flight requests. Meanwhile, in the
    /// background, dead sessions, stale login-failure counts, hourly counts and spent OTP codes
    /// are pruned, and `KEYS_DIR` is watched for key ring changes (and rotated on schedule if
    /// configured).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let reloader =
            jobs::spawn_key_reloader(Arc::clone(self.signer.ring()), Arc::clone(&self.clock));
        let pruner = jobs::spawn_pruner(self.prunable, self.clock, self.sessions);
        let served = telemetry::serve(self.listener, self.router, &self.limits, signal).await;
        pruner.abort();
        reloader.abort();
        self.store.close().await;
        served
    }
}

/// Request bodies of at most `max` bytes; a larger one is answered 413 `invalid_request`:
/// - a declared `Content-Length` over `max` at once, before any of the body is read or waited
///   for, so that a client cannot hold a connection and a task by announcing a body it never
///   sends. axum's own limit only counts bytes as they arrive;
/// - a body without a declared length (chunked) as soon as what arrived passes `max`, when
///   [`ApiJson`](crate::error::ApiJson) reads it ([`DefaultBodyLimit`]).
///
/// tower-http's `RequestBodyLimitLayer` checks `Content-Length` the same way, but answers in
/// plain text, not in our error shape.
fn with_body_limit<S>(router: Router<S>, max: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_declared_length_over(max, request, next)
        }))
}

/// 413 when the request's `Content-Length` is over `max`; hyper has refused a malformed or
/// ambiguous one already.
async fn refuse_declared_length_over(max: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(request).await
}

/// Headers for every response, the panic and timeout answers included (so these layers sit
/// outside [`telemetry::instrument`], which makes them):
/// - `X-Content-Type-Options: nosniff`, always: a browser never guesses a type for our JSON or
///   PEM.
/// - `Cache-Control: no-store` unless the handler chose its own (the JWKS, the PEMs and
///   discovery are `public, max-age=JWKS_MAX_AGE`; `/revoked-sessions` is `no-cache`). Token
///   responses must not be cached (RFC 6749 5.1), and neither should errors, registrations or
///   health answers, which describe one moment.
/// - `Pragma: no-cache` alongside `no-store`, for HTTP/1.0 caches (RFC 6749 5.1 asks for both);
///   never next to a cacheable `Cache-Control`, which it would contradict.
fn with_security_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::PRAGMA,
            pragma_for as fn(&Response) -> Option<HeaderValue>,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// `Pragma: no-cache` for a response that may not be stored.
fn pragma_for(response: &Response) -> Option<HeaderValue> {
    let no_store = response
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|value| value == "no-store");
    no_store.then(|| HeaderValue::from_static("no-cache"))
}

/// Logs the cause of 5xx answers (the body only says that something failed).
async fn log_internal_causes(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(status = response.status().as_u16(), cause = %cause, "request failed");
    }
    response
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
