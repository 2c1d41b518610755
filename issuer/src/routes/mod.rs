//! HTTP routes, one module per feature; each exposes `router()`.

pub mod admin;
mod client;
pub mod discovery;
pub mod email;
pub mod health;
pub mod jwks;
pub mod login;
pub mod me;
pub mod otp;
pub mod public_key;
pub mod register;
pub mod revoked;
pub mod session;
mod token_response;

pub use token_response::TokenResponse;

use axum::Router;
use verifier_middleware::Verifier;

use crate::error::ApiError;
use crate::state::AppState;

/// Which optional endpoints are served.
#[derive(Debug, Clone, Copy)]
pub struct Switches {
    /// `/otp/start` and `/otp/verify` (phone login on).
    pub otp: bool,
    /// `POST /register` creates accounts; when off it answers 403 `registration_closed`.
    pub registration: bool,
    /// The password-reset and verification routes (mail on).
    pub email: bool,
}

/// Every route of the issuer, with JSON answers for unknown paths and methods; the phone login
/// routes and self-registration as `switches` say; the self-service routes behind `verifier`
/// (see [`own_verifier`](crate::startup::own_verifier)).
pub fn router(switches: Switches, verifier: &Verifier) -> Router<AppState> {
    let router = Router::new();
    let router = if switches.otp {
        router.merge(otp::router())
    } else {
        router
    };
    let router = if switches.email {
        router.merge(email::router())
    } else {
        router
    };
    router
        .merge(register::router(switches.registration))
        .merge(login::router())
        .merge(me::router(verifier))
        .merge(admin::router(verifier))
        .merge(session::router())
        .merge(revoked::router())
        .merge(jwks::router())
        .merge(public_key::router())
        .merge(discovery::router())
        .merge(health::router())
        .fallback(async || ApiError::NotFound("no such endpoint"))
        .method_not_allowed_fallback(async || ApiError::MethodNotAllowed)
}
