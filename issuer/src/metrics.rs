//! The issuer's metrics, recorded through the [`metrics`](::metrics) facade and served at
//! `GET /metrics` with the request histogram of [`telemetry`] and the verifier's metrics.
//!
//! | Metric | Type | Labels | Counts or holds |
//! |---|---|---|---|
//! | `issuer_logins_total` | counter | `result` | `POST /login` answers |
//! | `issuer_registrations_total` | counter | `result` | `POST /register` answers |
//! | `issuer_refreshes_total` | counter | `result` | `POST /refresh` answers |
//! | `issuer_password_changes_total` | counter | `result` | `POST /me/password` answers |
//! | `issuer_password_resets_total` | counter | `result` | `POST /password-reset/confirm` answers |
//! | `issuer_admin_actions_total` | counter | `action` | changes made through the admin API |
//! | `issuer_otp_starts_total` | counter | `result` | `POST /otp/start` answers |
//! | `issuer_otp_verifications_total` | counter | `result` | `POST /otp/verify` answers |
//! | `issuer_tokens_issued_total` | counter | | token pairs handed out |
//! | `issuer_refresh_token_reuse_total` | counter | | used refresh tokens presented again |
//! | `issuer_rate_limited_total` | counter | `endpoint` | requests refused with 429 by our limits |
//! | `issuer_password_hash_queue_depth` | gauge | | hashes waiting for a permit |
//! | `issuer_password_hashes_running` | gauge | | hashes running now |
//! | `issuer_password_hashes_total` | counter | | password hashes and verifications done |
//! | `issuer_database_errors_total` | counter | `kind` | failed database operations |
//!
//! `result` is `success` or the `error` code of the answer (`invalid_request`,
//! `invalid_credentials`, `invalid_grant`, `conflict`, `rate_limited`,
//! `temporarily_unavailable`, `server_error`; `error` for an answer without one); a handler that
//! panics is counted only in the request histogram, as a 500. `endpoint` is `login`,
//! `register`, `password`, `otp_start`, `otp_verify`, `password_reset` or `email_verify` (a 429
//! because the SMS provider's own limit was reached counts only in `result`). `action` is
//! `user.set_role`, `user.disable`, `user.enable`, `user.verify_email`, `user.unverify_email`,
//! `user.delete` or `user.end_sessions`. Reuse is counted after the grace
//! window only, once per replayed token: it is refused and its session ended if still live.
//! `kind` is `unavailable` (unreachable, locked, timed out: answered 503) or `internal`
//! (anything else but a uniqueness conflict: answered 500).

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;

/// Counter: changes made through the admin API, by `action`.
pub const ADMIN_ACTIONS_TOTAL: &str = "issuer_admin_actions_total";
/// Counter: `POST /password-reset/confirm` answers, by `result`.
pub const PASSWORD_RESETS_TOTAL: &str = "issuer_password_resets_total";
/// Counter: `POST /me/password` answers, by `result`.
pub const PASSWORD_CHANGES_TOTAL: &str = "issuer_password_changes_total";
/// Counter: `POST /login` answers, by `result`.
pub const LOGINS_TOTAL: &str = "issuer_logins_total";
/// Counter: `POST /register` answers, by `result`.
pub const REGISTRATIONS_TOTAL: &str = "issuer_registrations_total";
/// Counter: `POST /refresh` answers, by `result`.
pub const REFRESHES_TOTAL: &str = "issuer_refreshes_total";
/// Counter: `POST /otp/start` answers, by `result`.
pub const OTP_STARTS_TOTAL: &str = "issuer_otp_starts_total";
/// Counter: `POST /otp/verify` answers, by `result`.
pub const OTP_VERIFICATIONS_TOTAL: &str = "issuer_otp_verifications_total";
/// Counter: access and refresh token pairs handed out (logins and refreshes).
pub const TOKENS_ISSUED_TOTAL: &str = "issuer_tokens_issued_total";
/// Counter: used refresh tokens presented after the grace window (each ends its session).
pub const REFRESH_TOKEN_REUSE_TOTAL: &str = "issuer_refresh_token_reuse_total";
/// Counter: requests refused by a rate limit, by `endpoint`.
pub const RATE_LIMITED_TOTAL: &str = "issuer_rate_limited_total";
/// Counter: requests turned away (503) by the password-hashing queue or the SMS provider's
/// call cap, by `endpoint`.
pub const SHED_TOTAL: &str = "issuer_shed_total";
/// Gauge: password hashes waiting for a permit to run.
pub const PASSWORD_HASH_QUEUE_DEPTH: &str = "issuer_password_hash_queue_depth";
/// Gauge: password hashes running now.
pub const PASSWORD_HASHES_RUNNING: &str = "issuer_password_hashes_running";
/// Counter: password hashes and verifications done (each one costs an argon2id run).
pub const PASSWORD_HASHES_TOTAL: &str = "issuer_password_hashes_total";
/// Counter: database operations that failed, by `kind`.
pub const DATABASE_ERRORS_TOTAL: &str = "issuer_database_errors_total";

/// The `result` of a successful answer; otherwise the answer's `error` code.
pub const SUCCESS: &str = "success";

/// The `error` code of an error answer, left in its extensions by
/// [`ApiError`](crate::error::ApiError) for [`count_results`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// Wraps `router` so that each answer of its routes counts in `counter` under its `result`.
pub(crate) fn count_results<S>(router: Router<S>, counter: &'static str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.route_layer(middleware::from_fn(move |request: Request, next: Next| {
        count_result(counter, request, next)
    }))
}

async fn count_result(counter: &'static str, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let result = match response.extensions().get::<ErrorCode>() {
        Some(ErrorCode(code)) => code,
        None if response.status().is_success() => SUCCESS,
        None => "error",
    };
    ::metrics::counter!(counter, "result" => result).increment(1);
    response
}

/// Counts a token pair handed out.
pub(crate) fn token_issued() {
    ::metrics::counter!(TOKENS_ISSUED_TOTAL).increment(1);
}

/// Counts a change made through the admin API (`user.disable`, ...).
pub(crate) fn admin_action(action: &'static str) {
    ::metrics::counter!(ADMIN_ACTIONS_TOTAL, "action" => action).increment(1);
}

/// Counts a used refresh token presented after the grace window.
pub(crate) fn refresh_token_reused() {
    ::metrics::counter!(REFRESH_TOKEN_REUSE_TOTAL).increment(1);
}

/// Counts a request to `endpoint` refused by a rate limit.
pub(crate) fn rate_limited(endpoint: &'static str) {
    ::metrics::counter!(RATE_LIMITED_TOTAL, "endpoint" => endpoint).increment(1);
}

/// Counts a request turned away (503) on `endpoint`: the hashing queue or the provider calls
/// were full.
pub(crate) fn shed(endpoint: &'static str) {
    ::metrics::counter!(SHED_TOTAL, "endpoint" => endpoint).increment(1);
}

/// Counts a failed database operation of `kind` (`unavailable` or `internal`).
pub(crate) fn database_error(kind: &'static str) {
    ::metrics::counter!(DATABASE_ERRORS_TOTAL, "kind" => kind).increment(1);
}

/// Adds one to `gauge` for as long as the returned guard lives: the gauge is right again even
/// when the work it counts is cancelled or panics.
pub(crate) fn gauge_while(gauge: &'static str) -> GaugeGuard {
    ::metrics::gauge!(gauge).increment(1.0);
    GaugeGuard(gauge)
}

/// See [`gauge_while`].
pub(crate) struct GaugeGuard(&'static str);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        ::metrics::gauge!(self.0).decrement(1.0);
    }
}

/// Every counter and its description (Prometheus `# HELP`).
const COUNTERS: [(&str, &str); 14] = [
    (LOGINS_TOTAL, "POST /login answers, by result."),
    (REGISTRATIONS_TOTAL, "POST /register answers, by result."),
    (REFRESHES_TOTAL, "POST /refresh answers, by result."),
    (
        PASSWORD_RESETS_TOTAL,
        "POST /password-reset/confirm answers, by result.",
    ),
    (
        PASSWORD_CHANGES_TOTAL,
        "POST /me/password answers, by result.",
    ),
    (OTP_STARTS_TOTAL, "POST /otp/start answers, by result."),
    (
        OTP_VERIFICATIONS_TOTAL,
        "POST /otp/verify answers, by result.",
    ),
    (TOKENS_ISSUED_TOTAL, "Token pairs handed out."),
    (
        ADMIN_ACTIONS_TOTAL,
        "Changes made through the admin API, by action (user.set_role, user.disable, user.enable, user.verify_email, user.unverify_email, user.delete, user.end_sessions).",
    ),
    (
        REFRESH_TOKEN_REUSE_TOTAL,
        "Used refresh tokens presented after the grace window; each ends its session.",
    ),
    (RATE_LIMITED_TOTAL, "Requests refused by a rate limit."),
    (
        SHED_TOTAL,
        "Requests turned away (503) because the password-hashing queue or the SMS provider's calls were full, by endpoint.",
    ),
    (
        PASSWORD_HASHES_TOTAL,
        "Password hashes and verifications done.",
    ),
    (
        DATABASE_ERRORS_TOTAL,
        "Failed database operations, by kind (unavailable, internal).",
    ),
];

/// Every gauge and its description.
const GAUGES: [(&str, &str); 2] = [
    (
        PASSWORD_HASH_QUEUE_DEPTH,
        "Password hashes waiting for a permit.",
    ),
    (PASSWORD_HASHES_RUNNING, "Password hashes running now."),
];

/// Gives the installed recorder each metric's description (Prometheus `# HELP`).
pub(crate) fn describe() {
    for (name, help) in COUNTERS {
        ::metrics::describe_counter!(name, help);
    }
    for (name, help) in GAUGES {
        ::metrics::describe_gauge!(name, help);
    }
}
