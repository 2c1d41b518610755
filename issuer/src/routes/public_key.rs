//! `GET /public-key`: the current signing key as PEM (RS256 mode only).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new().route("/public-key", get(public_key))
}

async fn public_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pem = state.signer.public_pem().ok_or(ApiError::NotFound(
        "no public key: this issuer signs with HS256 (a shared secret)",
    ))?;
    let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], pem.to_owned()).into_response())
}
