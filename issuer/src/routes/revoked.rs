//! `GET /revoked-sessions`: ids of ended sessions whose access tokens may still be accepted.
//!
//! Verifiers poll it (the `verifier-middleware` layer with `revocation_list_url`) and refuse
//! those `sid`s, so a logout reaches every service without a call per request. The list only
//! holds sessions ended within the last access-token lifetime (plus the verifiers' largest
//! leeway), so it stays small. It carries a strong `ETag` and `Cache-Control: no-cache`: any
//! cache may keep it but must revalidate, and an unchanged list costs a `304` with no body.
//!
//! It is public, like the JWKS: a session id grants nothing without its tokens.

use aws_lc_rs::digest;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::clock::unix_seconds;
use crate::error::ApiError;
use crate::sessions::REVOCATION_MARGIN;
use crate::state::AppState;
use crate::time::seconds;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new().route("/revoked-sessions", get(revoked_sessions))
}

/// The body: `{"sids": ["<session id>", ...]}`, sorted.
#[derive(Serialize)]
struct RevokedSessions {
    sids: Vec<String>,
}

async fn revoked_sessions(
    State(state): State<AppState>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = unix_seconds(state.clock.now());
    let margin = seconds(REVOCATION_MARGIN);
    let ids = state.store.revoked_session_ids(now, margin).await?;
    let body = RevokedSessions {
        sids: ids.iter().map(ToString::to_string).collect(),
    };
    let json = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = format!(
        "\"{}\"",
        URL_SAFE_NO_PAD.encode(&digest::digest(&digest::SHA256, &json).as_ref()[..16])
    );
    let etag = HeaderValue::try_from(etag).map_err(|e| ApiError::Internal(e.to_string()))?;
    let not_modified = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
