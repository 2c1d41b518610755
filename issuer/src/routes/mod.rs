//! HTTP routes, one module per feature; each exposes `router()`.

pub mod discovery;
pub mod health;
pub mod jwks;
pub mod login;
pub mod public_key;
pub mod register;
pub mod revoked;
pub mod session;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route of the issuer, with JSON answers for unknown paths and methods.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(register::router())
        .merge(login::router())
        .merge(session::router())
        .merge(revoked::router())
        .merge(jwks::router())
        .merge(public_key::router())
        .merge(discovery::router())
        .merge(health::router())
        .fallback(async || ApiError::NotFound("no such endpoint"))
        .method_not_allowed_fallback(async || ApiError::MethodNotAllowed)
}
