//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::clock::unix_seconds;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// Every key that may verify a live token: the next key (published one `KEY_PUBLISH_LEAD`
/// before it signs), the current one, and retired ones until their tokens have expired.
async fn jwks(State(state): State<AppState>) -> Response {
    let now = unix_seconds(state.clock.now());
    let mut response = Json(state.signer.jwks(now)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, cache_control(&state));
    response
}

/// `public, max-age=JWKS_MAX_AGE`: verifiers refresh at least that often, and a new key is
/// published at least that long before it signs (the configuration refuses a shorter lead).
pub(crate) fn cache_control(state: &AppState) -> HeaderValue {
    let max_age = state.jwks_max_age.as_secs();
    HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}
