//! Metrics, recorded through the [`metrics`] facade: what the verifier answered, how
//! often the verified-token cache answered, how the downloads of the JWKS and the revocation
//! list go, and whether stale keys are being served.
//!
//! This crate only records. The application decides where the numbers go by installing a
//! recorder (an exporter, e.g. `metrics-exporter-prometheus`) once at start-up; without one,
//! each recording is a no-op that allocates nothing (every metric key is built at compile time;
//! the repository's `BENCHMARKS.md` measures both cases). Build the
//! [`Verifier`](crate::Verifier) after installing the exporter: the counters every request
//! moves (accepted verifications, token-cache hits and misses) are registered with the
//! recorder installed at that moment, and the metrics come with their descriptions
//! (Prometheus `# HELP`).
//!
//! | Metric | Type | Labels | Counts or holds |
//! |---|---|---|---|
//! | `verifier_verifications_total` | counter | `result`, `reason` | tokens verified |
//! | `verifier_token_cache_hits_total` | counter | | answers from the token cache |
//! | `verifier_token_cache_misses_total` | counter | | verifications it could not answer |
//! | `verifier_fetches_total` | counter | `source`, `result` | download attempts |
//! | `verifier_fetch_last_success_timestamp_seconds` | gauge | `source` | last success, Unix s |
//! | `verifier_jwks_stale_keys_served_total` | counter | | answers from expired keys |
//!
//! - **`verifier_verifications_total`**: one per [`Verifier::verify`](crate::Verifier::verify)
//!   call and per request through [`JwtAuthLayer`](crate::JwtAuthLayer) that carries a bearer
//!   token (or an `Authorization` header too malformed to read). `result` is `accepted`,
//!   `rejected` (401) or `unavailable` (503: no usable keys could be loaded). `reason` names
//!   why a token was rejected, one stable value per [`InvalidToken`] variant (see [`reason`]
//!   and [`InvalidToken::metric_label`]), and is `none` otherwise. Requests without a token
//!   and the role check after an accepted token (403) are not counted; neither is a
//!   verification abandoned while it waited for keys (the client went away).
//! - **`verifier_token_cache_hits_total`** / **`verifier_token_cache_misses_total`**: a hit is
//!   a token found in the cache, verified under the keys and revocation list held now (its
//!   time claims are checked again, so a hit may still be rejected as `expired`). A miss is a
//!   verification the cache could not answer: the token is not held, was verified under older
//!   keys or an older list, or no usable keys are held (the cache is then bypassed). Tokens
//!   over the length cap are refused before the cache is looked at and count as neither.
//!   Neither counter moves while the cache is
//!   [disabled](crate::VerifierBuilder::disable_token_cache). Hit ratio:
//!   `rate(hits) / (rate(hits) + rate(misses))`.
//! - **`verifier_fetches_total`**: each download attempt, once, when it ends. `source` is
//!   `jwks` or `revocation`. `result` is `ok`, `not_modified` (the revocation list's
//!   conditional request answered `304`; the JWKS is always downloaded in full) or `error`:
//!   no connection, a timeout, an HTTP error status, a response over the size cap, a body that
//!   is not the expected document, or a JWKS without a single usable key.
//! - **`verifier_fetch_last_success_timestamp_seconds`**: the time, in Unix seconds from the
//!   verifier's [clock](crate::clock), of the last download of `source` that ended `ok` or
//!   `not_modified`; absent until one has. The time since the last successful fetch is
//!   `time() - verifier_fetch_last_success_timestamp_seconds{source="jwks"}` in PromQL.
//!   Downloads are started by traffic, so that age also grows in a service with no requests;
//!   alert on it together with `verifier_fetches_total{result="error"}` or the stale counter
//!   below, e.g. when it passes the JWKS lifetime (10 min by default) by a margin.
//! - **`verifier_jwks_stale_keys_served_total`**: verifications answered with JWKS keys past
//!   their lifetime (the server's `max-age`, within bounds) but within
//!   [`jwks_max_stale`](crate::VerifierBuilder::jwks_max_stale), from the token cache or not.
//!   Zero while the issuer answers; it grows while the JWKS cannot be refreshed (and briefly
//!   when a request after a quiet spell finds the keys expired and their refresh in flight).
//!   An upper bound in two corners: a token whose `kid` the stale keys lack is counted before
//!   the refetch that may bring fresh ones, and with both a JWKS and an HS256 secret
//!   configured, a cached HS256 token counts while the JWKS keys are stale.
//!
//! The names and label values are the constants of this module.
//!
//! ```
//! use verifier_middleware::InvalidToken;
//! use verifier_middleware::metrics::{self, reason};
//!
//! assert_eq!(metrics::VERIFICATIONS_TOTAL, "verifier_verifications_total");
//! assert_eq!(InvalidToken::Expired.metric_label(), reason::EXPIRED);
//! ```

use std::time::SystemTime;

use ::metrics::{Counter, Key, Label, Level, Metadata, Unit};

use crate::clock::unix_seconds;
use crate::rejection::{InvalidToken, Rejection};

/// Counter: tokens verified, by `result` and `reason`.
pub const VERIFICATIONS_TOTAL: &str = "verifier_verifications_total";
/// Counter: verifications answered by the verified-token cache.
pub const TOKEN_CACHE_HITS_TOTAL: &str = "verifier_token_cache_hits_total";
/// Counter: verifications the verified-token cache, when on, could not answer.
pub const TOKEN_CACHE_MISSES_TOTAL: &str = "verifier_token_cache_misses_total";
/// Counter: download attempts, by `source` and `result`.
pub const FETCHES_TOTAL: &str = "verifier_fetches_total";
/// Gauge: Unix time of the last successful download, by `source`.
pub const FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "verifier_fetch_last_success_timestamp_seconds";
/// Counter: verifications served with JWKS keys past their lifetime, within the max-stale bound.
pub const JWKS_STALE_KEYS_SERVED_TOTAL: &str = "verifier_jwks_stale_keys_served_total";

/// Label of [`VERIFICATIONS_TOTAL`] ([`ACCEPTED`], [`REJECTED`], [`UNAVAILABLE`]) and of
/// [`FETCHES_TOTAL`] ([`OK`], [`NOT_MODIFIED`], [`ERROR`]).
pub const RESULT: &str = "result";
/// Label of [`VERIFICATIONS_TOTAL`]: one of the values in [`reason`].
pub const REASON: &str = "reason";
/// Label of [`FETCHES_TOTAL`] and [`FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS`]: [`JWKS`] or
/// [`REVOCATION`].
pub const SOURCE: &str = "source";

/// `result` of a verification: the token is valid.
pub const ACCEPTED: &str = "accepted";
/// `result` of a verification: the token is refused (401); `reason` says why.
pub const REJECTED: &str = "rejected";
/// `result` of a verification: no usable keys could be loaded to check it (503).
pub const UNAVAILABLE: &str = "unavailable";

/// `result` of a download: a document was received and read.
pub const OK: &str = "ok";
/// `result` of a download: `304 Not Modified`, the held document is current.
pub const NOT_MODIFIED: &str = "not_modified";
/// `result` of a download: nothing usable (network, status, size or content).
pub const ERROR: &str = "error";

/// `source` of a download: the JWKS.
pub const JWKS: &str = "jwks";
/// `source` of a download: the revocation list.
pub const REVOCATION: &str = "revocation";

/// Values of the `reason` label of [`VERIFICATIONS_TOTAL`]: [`NONE`](reason::NONE) unless the
/// token is rejected, otherwise one per [`InvalidToken`] variant, named after it.
pub mod reason {
    /// The token is not rejected (`result` is `accepted` or `unavailable`).
    pub const NONE: &str = "none";
    /// [`InvalidToken::MalformedAuthorization`](crate::InvalidToken::MalformedAuthorization).
    pub const MALFORMED_AUTHORIZATION: &str = "malformed_authorization";
    /// [`InvalidToken::MalformedTokenSource`](crate::InvalidToken::MalformedTokenSource).
    pub const MALFORMED_TOKEN_SOURCE: &str = "malformed_token_source";
    /// [`InvalidToken::TooLong`](crate::InvalidToken::TooLong).
    pub const TOO_LONG: &str = "too_long";
    /// [`InvalidToken::NotCompactJws`](crate::InvalidToken::NotCompactJws).
    pub const NOT_COMPACT_JWS: &str = "not_compact_jws";
    /// [`InvalidToken::MalformedHeader`](crate::InvalidToken::MalformedHeader).
    pub const MALFORMED_HEADER: &str = "malformed_header";
    /// [`InvalidToken::AlgorithmNotAllowed`](crate::InvalidToken::AlgorithmNotAllowed).
    pub const ALGORITHM_NOT_ALLOWED: &str = "algorithm_not_allowed";
    /// [`InvalidToken::UnsupportedCritical`](crate::InvalidToken::UnsupportedCritical).
    pub const UNSUPPORTED_CRITICAL: &str = "unsupported_critical";
    /// [`InvalidToken::RefreshToken`](crate::InvalidToken::RefreshToken).
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// [`InvalidToken::UnknownKey`](crate::InvalidToken::UnknownKey).
    pub const UNKNOWN_KEY: &str = "unknown_key";
    /// [`InvalidToken::MissingKeyId`](crate::InvalidToken::MissingKeyId).
    pub const MISSING_KEY_ID: &str = "missing_key_id";
    /// [`InvalidToken::BadSignature`](crate::InvalidToken::BadSignature).
    pub const BAD_SIGNATURE: &str = "bad_signature";
    /// [`InvalidToken::MalformedClaims`](crate::InvalidToken::MalformedClaims).
    pub const MALFORMED_CLAIMS: &str = "malformed_claims";
    /// [`InvalidToken::MissingExpiry`](crate::InvalidToken::MissingExpiry).
    pub const MISSING_EXPIRY: &str = "missing_expiry";
    /// [`InvalidToken::Expired`](crate::InvalidToken::Expired).
    pub const EXPIRED: &str = "expired";
    /// [`InvalidToken::NotYetValid`](crate::InvalidToken::NotYetValid).
    pub const NOT_YET_VALID: &str = "not_yet_valid";
    /// [`InvalidToken::IssuedInFuture`](crate::InvalidToken::IssuedInFuture).
    pub const ISSUED_IN_FUTURE: &str = "issued_in_future";
    /// [`InvalidToken::WrongIssuer`](crate::InvalidToken::WrongIssuer).
    pub const WRONG_ISSUER: &str = "wrong_issuer";
    /// [`InvalidToken::WrongAudience`](crate::InvalidToken::WrongAudience).
    pub const WRONG_AUDIENCE: &str = "wrong_audience";
    /// [`InvalidToken::Revoked`](crate::InvalidToken::Revoked).
    pub const REVOKED: &str = "revoked";
}

/// A metric key built at compile time, so recording through it allocates nothing. (The
/// `metrics::counter!` macro does this only when names and label values are string literals;
/// given constants, it builds the labels in a `Vec` on every call.)
macro_rules! key {
    ($name:expr) => {{
        static KEY: Key = Key::from_static_name($name);
        &KEY
    }};
    ($name:expr, $($label:expr => $value:expr),+) => {{
        static LABELS: &[Label] = &[$(Label::from_static_parts($label, $value)),+];
        static KEY: Key = Key::from_static_parts($name, LABELS);
        &KEY
    }};
}

/// What the `metrics` macros would attach to each metric recorded here.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The installed recorder's counter for `key` (a no-op one without a recorder).
fn counter(key: &'static Key) -> Counter {
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA))
}

fn increment(key: &'static Key) {
    counter(key).increment(1);
}

/// The counters every accepted request moves, registered once, when the verifier is built,
/// with the recorder installed then (which is why the crate docs ask for the recorder first):
/// recording through a handle skips the recorder's lookup of the key.
pub(crate) struct HotCounters {
    accepted: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
}

impl HotCounters {
    /// Registers the handles with the recorder installed now (a no-op one without).
    pub(crate) fn register() -> Self {
        Self {
            accepted: counter(key!(
                VERIFICATIONS_TOTAL,
                RESULT => ACCEPTED,
                REASON => reason::NONE
            )),
            cache_hits: counter(key!(TOKEN_CACHE_HITS_TOTAL)),
            cache_misses: counter(key!(TOKEN_CACHE_MISSES_TOTAL)),
        }
    }

    /// Counts a verification by its outcome.
    pub(crate) fn verified<T>(&self, outcome: &Result<T, Rejection>) {
        match outcome {
            Ok(_) => self.accepted.increment(1),
            Err(rejection) => refused(rejection),
        }
    }

    /// Counts a verification answered by the verified-token cache.
    pub(crate) fn token_cache_hit(&self) {
        self.cache_hits.increment(1);
    }

    /// Counts a verification the verified-token cache could not answer.
    pub(crate) fn token_cache_miss(&self) {
        self.cache_misses.increment(1);
    }
}

/// Counts a verification that refused the token.
pub(crate) fn refused(rejection: &Rejection) {
    increment(match rejection {
        Rejection::InvalidToken(reason) => rejected(*reason),
        Rejection::KeysUnavailable { .. } => {
            key!(VERIFICATIONS_TOTAL, RESULT => UNAVAILABLE, REASON => reason::NONE)
        }
        // Not the outcome of a verification: no token at all, or the role check after one.
        Rejection::MissingToken
        | Rejection::InsufficientRole(_)
        | Rejection::InsufficientScope(_) => {
            return;
        }
    });
}

impl InvalidToken {
    /// The `reason` label this rejection is counted under in
    /// [`verifier_verifications_total`](VERIFICATIONS_TOTAL): a stable snake_case name of the
    /// variant, one of [`metrics::reason`](reason).
    ///
    /// ```
    /// use verifier_middleware::InvalidToken;
    ///
    /// assert_eq!(InvalidToken::BadSignature.metric_label(), "bad_signature");
    /// ```
    pub fn metric_label(&self) -> &'static str {
        // The labels of `rejected`'s keys are `result`, then `reason`.
        rejected(*self)
            .labels()
            .nth(1)
            .map_or(reason::NONE, Label::value)
    }
}

/// The key of `verifications_total{result="rejected", reason}`: the one place a variant is
/// given its label.
fn rejected(reason: InvalidToken) -> &'static Key {
    macro_rules! rejected {
        ($reason:expr) => {
            key!(VERIFICATIONS_TOTAL, RESULT => REJECTED, REASON => $reason)
        };
    }
    match reason {
        InvalidToken::MalformedAuthorization => rejected!(reason::MALFORMED_AUTHORIZATION),
        InvalidToken::MalformedTokenSource => rejected!(reason::MALFORMED_TOKEN_SOURCE),
        InvalidToken::TooLong => rejected!(reason::TOO_LONG),
        InvalidToken::NotCompactJws => rejected!(reason::NOT_COMPACT_JWS),
        InvalidToken::MalformedHeader => rejected!(reason::MALFORMED_HEADER),
        InvalidToken::AlgorithmNotAllowed => rejected!(reason::ALGORITHM_NOT_ALLOWED),
        InvalidToken::UnsupportedCritical => rejected!(reason::UNSUPPORTED_CRITICAL),
        InvalidToken::RefreshToken => rejected!(reason::REFRESH_TOKEN),
        InvalidToken::UnknownKey => rejected!(reason::UNKNOWN_KEY),
        InvalidToken::MissingKeyId => rejected!(reason::MISSING_KEY_ID),
        InvalidToken::BadSignature => rejected!(reason::BAD_SIGNATURE),
        InvalidToken::MalformedClaims => rejected!(reason::MALFORMED_CLAIMS),
        InvalidToken::MissingExpiry => rejected!(reason::MISSING_EXPIRY),
        InvalidToken::Expired => rejected!(reason::EXPIRED),
        InvalidToken::NotYetValid => rejected!(reason::NOT_YET_VALID),
        InvalidToken::IssuedInFuture => rejected!(reason::ISSUED_IN_FUTURE),
        InvalidToken::WrongIssuer => rejected!(reason::WRONG_ISSUER),
        InvalidToken::WrongAudience => rejected!(reason::WRONG_AUDIENCE),
        InvalidToken::Revoked => rejected!(reason::REVOKED),
    }
}

/// Counts a verification served with JWKS keys past their lifetime.
pub(crate) fn stale_keys_served() {
    increment(key!(JWKS_STALE_KEYS_SERVED_TOTAL));
}

/// Which document a download fetched.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Jwks,
    Revocation,
}

/// How a download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    Ok,
    NotModified,
    Error,
}

/// Counts a download of `source` and, when it succeeded, records `at`: the time (by the
/// verifier's clock) its cache dates the document from.
pub(crate) fn fetched(source: Source, outcome: Fetch, at: SystemTime) {
    increment(match (source, outcome) {
        (Source::Jwks, Fetch::Ok) => key!(FETCHES_TOTAL, SOURCE => JWKS, RESULT => OK),
        (Source::Jwks, Fetch::NotModified) => {
            key!(FETCHES_TOTAL, SOURCE => JWKS, RESULT => NOT_MODIFIED)
        }
        (Source::Jwks, Fetch::Error) => key!(FETCHES_TOTAL, SOURCE => JWKS, RESULT => ERROR),
        (Source::Revocation, Fetch::Ok) => {
            key!(FETCHES_TOTAL, SOURCE => REVOCATION, RESULT => OK)
        }
        (Source::Revocation, Fetch::NotModified) => {
            key!(FETCHES_TOTAL, SOURCE => REVOCATION, RESULT => NOT_MODIFIED)
        }
        (Source::Revocation, Fetch::Error) => {
            key!(FETCHES_TOTAL, SOURCE => REVOCATION, RESULT => ERROR)
        }
    });
    if outcome == Fetch::Error {
        return;
    }
    let last_success = match source {
        Source::Jwks => key!(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, SOURCE => JWKS),
        Source::Revocation => key!(FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS, SOURCE => REVOCATION),
    };
    // Exact: Unix seconds stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let seconds = unix_seconds(at) as f64;
    ::metrics::with_recorder(|recorder| recorder.register_gauge(last_success, &METADATA))
        .set(seconds);
}

/// Gives the installed recorder each metric's description and unit (Prometheus `# HELP`).
/// Called when a verifier is built: a recorder installed later only misses the descriptions.
pub(crate) fn describe() {
    ::metrics::describe_counter!(
        VERIFICATIONS_TOTAL,
        Unit::Count,
        "Bearer tokens verified, by result (accepted, rejected, unavailable) and rejection reason."
    );
    ::metrics::describe_counter!(
        TOKEN_CACHE_HITS_TOTAL,
        Unit::Count,
        "Verifications answered by the verified-token cache."
    );
    ::metrics::describe_counter!(
        TOKEN_CACHE_MISSES_TOTAL,
        Unit::Count,
        "Verifications the verified-token cache could not answer."
    );
    ::metrics::describe_counter!(
        FETCHES_TOTAL,
        Unit::Count,
        "Downloads of the JWKS and the revocation list, by source and result."
    );
    ::metrics::describe_gauge!(
        FETCH_LAST_SUCCESS_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Unix time of the last successful download, by source."
    );
    ::metrics::describe_counter!(
        JWKS_STALE_KEYS_SERVED_TOTAL,
        Unit::Count,
        "Verifications served with JWKS keys past their lifetime while refreshes fail."
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_rejection_reason_has_a_label_of_its_own() {
        let all = [
            InvalidToken::MalformedAuthorization,
            InvalidToken::MalformedTokenSource,
            InvalidToken::TooLong,
            InvalidToken::NotCompactJws,
            InvalidToken::MalformedHeader,
            InvalidToken::AlgorithmNotAllowed,
            InvalidToken::UnsupportedCritical,
            InvalidToken::RefreshToken,
            InvalidToken::UnknownKey,
            InvalidToken::MissingKeyId,
            InvalidToken::BadSignature,
            InvalidToken::MalformedClaims,
            InvalidToken::MissingExpiry,
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::IssuedInFuture,
            InvalidToken::WrongIssuer,
            InvalidToken::WrongAudience,
            InvalidToken::Revoked,
        ];

        let labels: HashSet<&str> = all.iter().map(InvalidToken::metric_label).collect();

        assert_eq!(labels.len(), all.len());
        assert!(!labels.contains(reason::NONE));
        for label in labels {
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn a_rejection_is_counted_under_its_label() {
        let key = rejected(InvalidToken::WrongAudience);

        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();

        assert_eq!(key.name(), VERIFICATIONS_TOTAL);
        assert_eq!(
            labels,
            [(RESULT, REJECTED), (REASON, reason::WRONG_AUDIENCE)]
        );
    }
}
