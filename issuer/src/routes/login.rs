//! `POST /login {email, password}` -> 200 token response (RFC 6749 5.1).
//!
//! The rules (back-off, lookup, password check) live in [`crate::login`].

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::Deserialize;

use super::client::{client_address, client_info};
use super::token_response::TokenResponse;
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    metrics::count_results(
        Router::new().route("/login", post(login)),
        metrics::LOGINS_TOTAL,
    )
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<TokenResponse, ApiError> {
    let client_ip = client_address(client_ip)?;
    let user = state
        .login
        .log_in(client_ip, &request.email, request.password)
        .await?;
    if state.require_email_verification && user.email.is_some() && !user.email_verified {
        tracing::debug!(user_id = %user.id, "login refused: e-mail not verified");
        return Err(ApiError::EmailNotVerified);
    }
    let client = client_info(client_ip, &headers);
    Ok(state.sessions.start(&user, &client).await?.into())
}
