//! `POST /refresh {refresh_token}` -> 200 token response; `POST /logout {refresh_token}` -> 204.
//!
//! The rules (rotation, grace window, reuse detection) live in [`crate::sessions`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::token_response::TokenResponse;
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    metrics::count_results(
        Router::new().route("/refresh", post(refresh)),
        metrics::REFRESHES_TOTAL,
    )
    .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct RefreshTokenRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshTokenRequest>,
) -> Result<TokenResponse, ApiError> {
    Ok(state.sessions.refresh(&request.refresh_token).await?.into())
}

async fn logout(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshTokenRequest>,
) -> Result<StatusCode, ApiError> {
    state.sessions.logout(&request.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
