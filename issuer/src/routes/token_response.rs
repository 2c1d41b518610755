//! The token response of `POST /login`, `/otp/verify` and `/refresh` (RFC 6749 5.1).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::sessions::TokenPair;

/// The token response of RFC 6749 section 5.1; `Debug` shows no token.
#[derive(Serialize)]
pub struct TokenResponse {
    /// The signed access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// The opaque refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
        }
    }
}

/// JSON; `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1) come from the layer
/// that gives them to every response that does not choose its own caching (see
/// [`crate::startup`]).
impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
