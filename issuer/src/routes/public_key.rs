//! `GET /public-key`: the current signing key as PEM (RS256 mode only), and
//! `GET /public-key/{kid}`: any published key as PEM.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::unix_seconds;
use crate::error::ApiError;
use crate::routes::jwks::cache_control;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public-key", get(current))
        .route("/public-key/{kid}", get(by_kid))
}

async fn current(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = unix_seconds(state.clock.now());
    let pem = state.signer.public_pem(now).ok_or(ApiError::NotFound(
        "no public key: this issuer signs with HS256 (a shared secret)",
    ))?;
    Ok(pem_response(&state, pem))
}

/// A next, current or retired key by its kid (as in the JWKS and the tokens' header).
async fn by_kid(
    State(state): State<AppState>,
    Path(kid): Path<String>,
) -> Result<Response, ApiError> {
    let now = unix_seconds(state.clock.now());
    let pem = state
        .signer
        .public_pem_of(&kid, now)
        .ok_or(ApiError::NotFound("no published key has this kid"))?;
    Ok(pem_response(&state, pem))
}

fn pem_response(state: &AppState, pem: String) -> Response {
    let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache_control(state)),
        ],
        pem,
    )
        .into_response()
}
