//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// How long verifiers may cache the JWKS. Kept below the access-token lifetime so that a key
/// added to the ring is seen by verifiers well before tokens signed with it are common.
pub const JWKS_MAX_AGE_SECS: u32 = 300;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.signer.jwks()).into_response();
    let cache_control = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
