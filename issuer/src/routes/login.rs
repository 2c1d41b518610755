//! `POST /login {email, password}` -> 200 token response (RFC 6749 5.1).
//!
//! Unknown e-mails and wrong passwords get the same answer after the same work (a dummy
//! argon2 verification), and repeated failures are slowed by [`crate::throttle`].

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::{Deserialize, Serialize};

use crate::domain::Email;
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::sessions::{self, ClientInfo, TokenPair};
use crate::state::AppState;
use crate::throttle::{Reservation, ThrottleKey};

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

async fn login(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<TokenResponse, ApiError> {
    let client_ip = super::client_address(client_ip)?;
    let email = Email::parse(&request.email).ok();
    // The address first: an address in back-off spends nothing of the accounts it tries.
    let keys: Vec<ThrottleKey> = std::iter::once(ThrottleKey::Client(client_ip))
        .chain(email.clone().map(ThrottleKey::Account))
        .collect();
    // Counted before the password is checked, so parallel attempts cannot all pass.
    let attempt = match state.throttle.reserve(&keys).await? {
        Reservation::Blocked(retry_after) => return Err(ApiError::limited("login", retry_after)),
        Reservation::Counted(attempt) => attempt,
    };

    let user = match &email {
        Some(email) => state.store.find_user_by_email(email).await?,
        None => None,
    };
    // A phone user has no password: the dummy verification runs, as for an unknown e-mail.
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = state
        .passwords
        .verify(request.password, stored_hash)
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        tracing::debug!("login refused: unknown email or wrong password");
        // The counted attempt stays counted: it was a failure.
        return Err(ApiError::InvalidCredentials);
    };
    state.throttle.succeeded(attempt).await?;
    let client = ClientInfo::from_request(client_ip, &headers);
    Ok(sessions::start(&state, &user, &client).await?.into())
}
