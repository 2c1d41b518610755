//! HTTP routes, one module per feature; each exposes `router()`.

pub mod discovery;
pub mod health;
pub mod jwks;
pub mod login;
pub mod otp;
pub mod public_key;
pub mod register;
pub mod revoked;
pub mod session;

use std::net::IpAddr;

use axum::Router;
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};

use crate::error::ApiError;
use crate::state::AppState;

/// Every route of the issuer, with JSON answers for unknown paths and methods; the phone login
/// routes only when `with_otp` (`OTP_PROVIDER` is not `off`).
pub fn router(with_otp: bool) -> Router<AppState> {
    let router = Router::new();
    let router = if with_otp {
        router.merge(otp::router())
    } else {
        router
    };
    router
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

/// The client's address, from the configured `CLIENT_IP_SOURCE`. Only a header source can
/// fail: the request did not come through the configured proxy.
pub(crate) fn client_address(
    client_ip: Result<ClientIp, ClientIpRejection>,
) -> Result<IpAddr, ApiError> {
    let ClientIp(ip) = client_ip.map_err(|rejection| {
        tracing::debug!(?rejection, "request refused: no client address");
        ApiError::BadRequest("the client address header set by the proxy is missing".into())
    })?;
    Ok(ip)
}
