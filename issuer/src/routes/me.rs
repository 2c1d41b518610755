//! Self-service, for the holder of an access token (`Authorization: Bearer`):
//! `GET /me`, `GET /me/sessions`, `DELETE /me/sessions/{sid}`, `POST /logout-all`,
//! `POST /me/password` and `DELETE /me`.
//!
//! The issuer's own verifier layer checks the token first (signature with the issuer's own
//! keys, `iss`, `aud`, expiry), answering as it does in front of any service. Then [`Caller`]
//! looks the token's session up: a token whose session has ended (logout, password change,
//! operator) is refused here at once, where services learn of it from `/revoked-sessions`
//! within their poll interval.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verifier_middleware::{VerifiedClaims, Verifier};

use super::client::client_address;
use crate::clock::unix_seconds;
use crate::domain::{ADMIN_ROLE, Password, Phone};
use crate::error::{ApiError, ApiJson};
use crate::login::LoginError;
use crate::metrics;
use crate::routes::otp::check_code;
use crate::sessions::revocation_floor;
use crate::state::AppState;
use crate::storage::{Actor, EndReason, PasswordChange, SessionScope, SessionSummary, UserRecord};

/// Routes of this feature, behind `verifier`'s layer (unknown methods are answered 405
/// before it).
pub fn router(verifier: &Verifier) -> Router<AppState> {
    let password = metrics::count_results(
        Router::new().route("/me/password", post(change_password)),
        metrics::PASSWORD_CHANGES_TOTAL,
    );
    Router::new()
        .route("/me", get(profile).delete(delete_account))
        .route("/me/sessions", get(sessions))
        .route("/me/sessions/{sid}", delete(end_session))
        .route("/logout-all", post(logout_all))
        .merge(password)
        .route_layer(verifier.layer())
}

/// The user and session of a verified access token whose session is live (and whose account
/// is not disabled).
pub(crate) struct Caller {
    /// The user (`sub`).
    pub(crate) user_id: Uuid,
    /// The session (`sid`).
    pub(crate) session_id: Uuid,
    /// The user's role now (not as when the token was signed).
    pub(crate) role: String,
}

impl Caller {
    /// The caller's account, with its password hash; gone means the session is too.
    async fn account(&self, state: &AppState) -> Result<UserRecord, ApiError> {
        state
            .store
            .find_user_by_id(self.user_id)
            .await?
            .ok_or(ApiError::SessionEnded)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = parts
            .extensions
            .get::<VerifiedClaims>()
            .ok_or_else(|| ApiError::Internal("route outside the verifier layer".into()))?;
        let id = |claim: Option<&str>| claim.and_then(|value| Uuid::parse_str(value).ok());
        // Every token this issuer signs names both; one that does not has no session to use.
        let (Some(user_id), Some(session_id)) = (id(claims.subject()), id(claims.session_id()))
        else {
            return Err(ApiError::SessionEnded);
        };
        let Some(role) = state.store.live_session_role(session_id, user_id).await? else {
            tracing::debug!("request refused: the token's session has ended");
            return Err(ApiError::SessionEnded);
        };
        Ok(Self {
            user_id,
            session_id,
            role,
        })
    }
}

/// `GET /me`: the OpenID Connect `userinfo` claims where they exist (`sub`, `email`,
/// `email_verified`, `phone_number`, `phone_number_verified`), plus `role` and `created_at`
/// (Unix seconds). Claims the account lacks are left out, as `userinfo` does.
#[derive(Serialize)]
struct ProfileBody {
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number_verified: Option<bool>,
    role: String,
    created_at: i64,
}

async fn profile(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ProfileBody>, ApiError> {
    let profile = state
        .store
        .profile(caller.user_id)
        .await?
        .ok_or(ApiError::SessionEnded)?;
    Ok(Json(ProfileBody {
        sub: profile.id.to_string(),
        email_verified: profile
            .email
            .as_ref()
            .map(|_| profile.email_verified_at.is_some()),
        email: profile.email,
        // A phone number is proved by every login with it.
        phone_number_verified: profile.phone.as_ref().map(|_| true),
        phone_number: profile.phone,
        role: profile.role,
        created_at: profile.created_at,
    }))
}

/// `GET /me/sessions`: the caller's sessions that can still refresh, newest first.
#[derive(Serialize)]
struct SessionsBody {
    sessions: Vec<SessionBody>,
}

/// A session as the API shows one: to its user (with `current`) or to an administrator (with
/// `ended_at` and `end_reason` when it ended).
#[derive(Serialize)]
pub(crate) struct SessionBody {
    sid: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    client_ip: Option<String>,
    user_agent: Option<String>,
    /// The session of the token that asked (self-service only).
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_reason: Option<String>,
}

impl SessionBody {
    /// `session`, marked `current` or not when that is known.
    pub(crate) fn new(session: SessionSummary, current: Option<bool>) -> Self {
        let (ended_at, end_reason) = session.ended.unzip();
        Self {
            sid: session.id.to_string(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            client_ip: session.client_ip,
            user_agent: session.user_agent,
            current,
            ended_at,
            end_reason,
        }
    }
}

async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SessionsBody>, ApiError> {
    let sessions = state
        .sessions
        .live_sessions(caller.user_id)
        .await?
        .into_iter()
        .map(|session| {
            let current = session.id == caller.session_id;
            SessionBody::new(session, Some(current))
        })
        .collect();
    Ok(Json(SessionsBody { sessions }))
}

/// `DELETE /me/sessions/{sid}`: ends one of the caller's sessions (the current one too); 404
/// for an id that is not a live session of theirs.
async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    const UNKNOWN: ApiError = ApiError::NotFound("no live session of yours has this id");
    let session = Uuid::parse_str(&sid).map_err(|_| UNKNOWN)?;
    let live = state.sessions.live_sessions(caller.user_id).await?;
    if !live.iter().any(|listed| listed.id == session) {
        return Err(UNKNOWN);
    }
    let scope = SessionScope::Owned {
        user: caller.user_id,
        session,
    };
    let now = unix_seconds(state.clock.now());
    match state
        .store
        .end_sessions(scope, EndReason::Logout, now)
        .await?
    {
        0 => Err(UNKNOWN),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `POST /logout-all`: ends every session of the caller, the current one included.
async fn logout_all(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let now = unix_seconds(state.clock.now());
    let scope = SessionScope::User(caller.user_id);
    let ended = state
        .store
        .end_sessions(scope, EndReason::Logout, now)
        .await?;
    tracing::info!(user_id = %caller.user_id, sessions = ended, "logged out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// Checks `password` as a login would check it (the same back-off, so a stolen access token
/// cannot be used to guess it); 401 `invalid_credentials` "the password is wrong" otherwise.
async fn confirm_password(
    state: &AppState,
    client_ip: IpAddr,
    user: &UserRecord,
    password: String,
) -> Result<(), ApiError> {
    let Some(email) = &user.email else {
        return Err(ApiError::WrongPassword);
    };
    let checked = state
        .login
        .log_in(client_ip, email, password)
        .await
        .map_err(|error| match error {
            LoginError::InvalidCredentials => ApiError::WrongPassword,
            other => other.into(),
        })?;
    if checked.id == user.id {
        Ok(())
    } else {
        Err(ApiError::WrongPassword)
    }
}

#[derive(Deserialize)]
struct PasswordChangeRequest {
    current_password: String,
    new_password: String,
}

/// `POST /me/password`: checks the current password as a login would (the same back-off, so a
/// stolen access token cannot be used to guess it), stores the new one's argon2id hash and
/// ends every other session of the user, atomically. 204; the caller's session goes on.
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let client_ip = client_address(client_ip)?;
    let new_password = Password::parse(request.new_password)
        .map_err(|error| ApiError::Unprocessable(error.to_string()))?;
    let user = caller.account(&state).await?;
    if user.email.is_none() {
        return Err(ApiError::Unprocessable(
            "this account logs in by phone and has no password".into(),
        ));
    }
    confirm_password(&state, client_ip, &user, request.current_password).await?;
    let password_hash = state
        .passwords
        .admit()
        .map_err(|busy| ApiError::shed("password", busy.retry_after))?
        .hash(new_password)
        .await?;
    let ended = state
        .store
        .change_password(&PasswordChange {
            user_id: caller.user_id,
            password_hash: &password_hash,
            keep_session: caller.session_id,
            now: unix_seconds(state.clock.now()),
        })
        .await?;
    tracing::info!(user_id = %caller.user_id, other_sessions_ended = ended, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct DeleteRequest {
    password: Option<String>,
    code: Option<String>,
}

/// `DELETE /me` `{password}`, or for a phone account `{code}` (a fresh code from
/// `POST /otp/start`): the account and every row of it are deleted, its sessions stay on the
/// revocation list until their access tokens expire, and its e-mail or number can sign up
/// again. 204. Audited like an administrator's deletion, with the user as the actor.
async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<DeleteRequest>,
) -> Result<StatusCode, ApiError> {
    let client_ip = client_address(client_ip)?;
    if caller.role == ADMIN_ROLE {
        return Err(ApiError::Unprocessable(
            "an administrator cannot delete their own account here; ask another administrator or use the issuer CLI".into(),
        ));
    }
    let user = caller.account(&state).await?;
    match (&user.email, &user.phone) {
        (Some(_), _) => {
            let password = request
                .password
                .ok_or_else(|| ApiError::BadRequest("missing field `password`".into()))?;
            confirm_password(&state, client_ip, &user, password).await?;
        }
        (None, Some(phone)) => {
            let code = request.code.ok_or_else(|| {
                ApiError::BadRequest("missing field `code` (from POST /otp/start)".into())
            })?;
            let otp = state.otp.as_ref().ok_or_else(|| {
                ApiError::Unprocessable(
                    "phone login is off, so no code can confirm this; ask an administrator".into(),
                )
            })?;
            let phone = Phone::parse(phone).map_err(|e| ApiError::Internal(e.to_string()))?;
            check_code(otp, client_ip, &phone, &code).await?;
        }
        (None, None) => return Err(ApiError::Internal("an account without a login".into())),
    }
    let name = caller.user_id.to_string();
    let client = client_ip.to_canonical().to_string();
    let actor = Actor {
        name: &name,
        client_ip: Some(&client),
        now: unix_seconds(state.clock.now()),
    };
    let floor = revocation_floor(actor.now);
    if !state
        .store
        .delete_user(caller.user_id, floor, &actor)
        .await?
    {
        return Err(ApiError::SessionEnded);
    }
    tracing::info!(user_id = %caller.user_id, "account deleted by its owner");
    Ok(StatusCode::NO_CONTENT)
}
