//! A tower layer that verifies bearer JWTs, caches the issuer's keys and checks roles per route.
//!
//! Build a [`Verifier`] once with its key source and the claims tokens must carry, wrap routes
//! in its [`JwtAuthLayer`], and read the [`VerifiedClaims`] in handlers. The layer is a plain
//! `tower` layer over `http` types, so it brings no web framework in (it downloads keys with
//! `reqwest` on `tokio`); the axum extractors ([`Claims<T>`](Claims), `Option<Claims<T>>`,
//! [`VerifiedClaims`]) come with the `axum` feature.
//!
//! # With axum
//!
//! ```
//! use axum::{Json, Router, routing::post};
//! use serde::Deserialize;
//! use verifier_middleware::{Claims, RequireRoleLayer, Verifier};
//!
//! /// The claims this service reads; anything else in the token is ignored.
//! #[derive(Deserialize)]
//! struct User {
//!     email: String,
//! }
//!
//! async fn book(Claims(user): Claims<User>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "success": true, "user": user.email }))
//! }
//!
//! # fn main() -> Result<(), verifier_middleware::BuildError> {
//! let verifier = Verifier::builder()
//!     .jwks_url("http://localhost:3000/.well-known/jwks.json")
//!     .issuer("http://localhost:3000")
//!     .audience("api")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     // Per route: only tokens with role `user` reach `book`.
//!     .route("/book", post(book).layer(RequireRoleLayer::any_of(["user"])))
//!     // For every route: a valid token, or 401/503 before the handler runs.
//!     .layer(verifier.layer());
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! `verifier.layer().require_any_role(["user"])` does both in one layer when a router has a
//! single role. Call [`Verifier::prefetch`] at start-up to load the keys before the first
//! request, and [`Verifier::has_keys`] from a readiness probe.
//!
//! # With a plain tower service
//!
//! See the [`layer`] module: any `Service<http::Request<B>>` whose response body can be built
//! from bytes works, and the inner error type is unchanged.
//!
//! # What is checked
//!
//! In this order, each failure answered 401 `invalid_token` with an `error_description`:
//! 1. the `Authorization: Bearer` header (missing: 401 with a bare `WWW-Authenticate: Bearer`);
//! 2. the token's length, before anything is parsed (8 KiB by default);
//! 3. its form: a compact JWS of three canonical base64url segments, a header without
//!    duplicate keys, no `crit`, not a refresh `typ`; `jku`, `x5u`, `jwk` and `x5c` are ignored
//!    (keys only ever come from the configured source);
//! 4. its `alg` against the key it names: each public key verifies only the algorithms of its
//!    kind that the [configured list](VerifierBuilder::algorithms) allows (an RSA key RS256 by
//!    default, RS384/512 and PS* when listed; a P-256 key ES256; a P-384 key ES384; an
//!    Ed25519 key EdDSA), a JWK's own `alg` narrows that, the HS256 secret verifies HS256 only,
//!    and `none` is never accepted: no header can make one kind of key verify another's
//!    algorithm;
//! 5. its signature (aws-lc, the backend jsonwebtoken uses, with each key parsed once; ECDSA
//!    signatures only in the JOSE `r || s` form, never DER);
//! 6. its claims: `exp` required, `nbf` and `iat` checked, all as JSON numbers, with a leeway
//!    (60 s by default); `iss` and `aud` (string or array) against the configured values; a
//!    `type` of `refresh` refused; `role` (string) and `roles` (array of strings) well typed;
//! 7. with a [revocation list](VerifierBuilder::revocation_list_url), its `sid` is not listed
//!    ("the token's session has ended").
//!
//! Then the route's role requirement (any of a list): 403 `insufficient_scope` when unmet.
//! Reasons are logged at `debug` without token text.
//!
//! # The JWKS cache
//!
//! Designed to keep serving through key rotation, issuer outages and hostile traffic (details
//! on each bound in the builder's `jwks_*` methods):
//! - the hot path is lock-free: a token whose `kid` is cached is verified without waiting;
//! - one download at a time, shared by every request that needs it (cold start, refresh,
//!   unknown `kid`);
//! - lifetime from the server's `Cache-Control: max-age` within bounds (10 min without one),
//!   refreshed in the background ahead of expiry;
//! - a new `kid` is fetched on first sight, but at most once per 30 s cooldown: a flood of
//!   made-up `kid`s costs one request to the issuer per cooldown and each gets 401 at once;
//! - when the issuer is down, cached keys keep working (up to 24 h past expiry by default)
//!   while retries back off; with no keys at all, requests get 503 with `Retry-After`;
//! - one shared HTTP client, 5 s timeout per download
//!   ([`fetch_timeout`](VerifierBuilder::fetch_timeout)), 256 KiB response cap; a JWKS entry
//!   that is not a usable signing key (RSA of at least [`MIN_RSA_BITS`] (2048) bits, EC P-256
//!   or P-384, Ed25519) is skipped (and logged), the rest kept.
//!
//! # The verified-token cache
//!
//! On by default: a token accepted once is accepted again without its signature check and JSON
//! parsing (the repository's `BENCHMARKS.md` has what that saves), keyed by the whole token,
//! compared byte for byte. What it never does is vouch for a token the full check would refuse
//! now:
//! - `exp`, `nbf` and `iat` are checked again on every hit, and an entry lives at most until
//!   the token's `exp` (without the leeway: a token inside its leeway is verified in full) and
//!   [`token_cache_max_lifetime`](VerifierBuilder::token_cache_max_lifetime) (5 min);
//! - the whole cache is flushed when a JWKS download brings different keys or a revocation
//!   list download a different list, and no entry verified under the old ones is served after
//!   that, even one a verification racing the change inserted; it is bypassed while no usable
//!   keys are held; the revocation list is checked on every request, hit or not;
//! - it holds an estimated 64 MiB at most, about 33 000 RS256 access tokens of this project's
//!   issuer ([`token_cache_max_bytes`](VerifierBuilder::token_cache_max_bytes), which says how
//!   to size it; a count bound can be added with
//!   [`token_cache_max_entries`](VerifierBuilder::token_cache_max_entries)); only accepted
//!   tokens are cached, so garbage cannot fill it, and a rejected token is checked in full
//!   every time;
//! - when more tokens are alive than it holds, a new one displaces a held one only if it has
//!   been seen more often (TinyLFU admission): users active in turn keep a stable part of
//!   them cached, where a plain LRU would evict each just before its next use.
//!
//! [`disable_token_cache`](VerifierBuilder::disable_token_cache) turns it off.
//!
//! # Revocation
//!
//! Opt-in with [`VerifierBuilder::revocation_list_url`]: the issuer's list of ended sessions is
//! polled so that a logout is enforced within [`revocation_poll_interval`](VerifierBuilder::revocation_poll_interval)
//! (30 s by default) while the issuer answers, without a call per request. The list is read
//! lock-free, refreshed ahead of time by traffic with conditional requests, and kept applying
//! during an outage (fail-open: a token's `exp` stays the hard bound).
//!
//! ```
//! # fn main() -> Result<(), verifier_middleware::BuildError> {
//! use std::time::Duration;
//! use verifier_middleware::Verifier;
//!
//! let verifier = Verifier::builder()
//!     .jwks_url("http://localhost:3000/.well-known/jwks.json")
//!     .revocation_list_url("http://localhost:3000/revoked-sessions")
//!     .revocation_poll_interval(Duration::from_secs(10)) // logout reaches this service within ~10 s
//!     .issuer("http://localhost:3000")
//!     .audience("api")
//!     .build()?;
//! # let _ = verifier;
//! # Ok(()) }
//! ```
//!
//! Times come from a [`Clock`](clock::Clock), so tests can move time instead of sleeping.
//!
//! # Metrics
//!
//! Counters and a gauge through the [`metrics`](::metrics) facade, for dashboards and alerts:
//! `verifier_verifications_total{result, reason}`, `verifier_token_cache_hits_total`,
//! `verifier_token_cache_misses_total`, `verifier_fetches_total{source, result}`,
//! `verifier_fetch_last_success_timestamp_seconds{source}` and
//! `verifier_jwks_stale_keys_served_total`. This crate brings no exporter: install one in the
//! application (e.g. `metrics-exporter-prometheus`) before building the verifier (the
//! counters every request moves are registered with the recorder installed then); without
//! one, recording costs next to nothing. The [`metrics`] module lists what each metric means,
//! its labels, and the constants naming them.
//!
//! # Response bodies
//!
//! Rejections carry a JSON body (`{"error", "error_description"}`), so the response body type
//! must be buildable from bytes (`ResBody: From<Bytes>`), rather than only `Default` as in
//! tower-http's layers, which can only produce empty bodies. `axum::body::Body` and
//! `http_body_util::Full<Bytes>` qualify.

mod build_error;
mod builder;
mod claims;
pub mod clock;
#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod json;
mod keys;
pub mod layer;
pub mod metrics;
mod rejection;
mod remote;
mod revocation;
mod secret;
mod token;
mod token_cache;
mod verifier;

pub use crate::build_error::{BuildError, Setting};
pub use crate::builder::VerifierBuilder;
pub use crate::claims::{DEFAULT_LEEWAY, MAX_LEEWAY, VerifiedClaims};
#[cfg(feature = "axum")]
pub use crate::extract::{Claims, ClaimsRejection};
pub use crate::keys::MIN_RSA_BITS;
pub use crate::keys::algorithm::SignatureAlgorithm;
pub use crate::keys::jwks::DEFAULT_JWKS_MIN_TTL;
pub use crate::layer::{
    JwtAuth, JwtAuthLayer, RequireClaims, RequireRoleLayer, RequireScopeLayer, ResponseFuture,
};
pub use crate::rejection::{InvalidToken, Rejection, RoleList, ScopeList};
pub use crate::secret::MIN_SECRET_BYTES;
pub use crate::token::DEFAULT_MAX_TOKEN_BYTES;
pub use crate::verifier::Verifier;
