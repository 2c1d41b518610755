//! The admin API, for accounts whose role is `admin` (never a self-service role):
//! `GET /admin/users`, `GET|PATCH|DELETE /admin/users/{id}`,
//! `DELETE /admin/users/{id}/sessions` and `GET /admin/audit`.
//!
//! In front: the issuer's own verifier layer and the role guard, answering as they do in front
//! of any service; then [`Admin`] checks, in the database, that the token's session is live and
//! that its user is an administrator *now* (a demoted administrator's token still says
//! `admin` until it expires). Every change writes an audit row in its own transaction.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use axum_client_ip::ClientIp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use verifier_middleware::{RequireRoleLayer, Verifier};

use super::client::client_address;
use super::me::{Caller, SessionBody};
use crate::clock::unix_seconds;
use crate::domain::{ADMIN_ROLE, Role};
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::sessions::revocation_floor;
use crate::state::AppState;
use crate::storage::{Actor, AuditRecord, UserQuery, UserSummary, UserUpdate};

/// Rows per page when `limit` is not given.
const DEFAULT_PAGE: i64 = 50;
/// The most rows a page may ask for.
const MAX_PAGE: i64 = 200;

const NO_SUCH_USER: ApiError = ApiError::NotFound("no such user");

/// Routes of this feature, behind `verifier`'s layer and the `admin` role guard.
pub fn router(verifier: &Verifier) -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list_users))
        .route(
            "/admin/users/{id}",
            get(show_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/admin/users/{id}/sessions",
            axum::routing::delete(end_sessions),
        )
        .route("/admin/audit", get(audit))
        .route_layer(RequireRoleLayer::any_of([ADMIN_ROLE]))
        .route_layer(verifier.layer())
}

/// A caller whose session is live and whose role is `admin` now, and where they are.
struct Admin {
    user_id: Uuid,
    /// The id as text: the audit trail's actor.
    name: String,
    /// The client address, as the audit trail keeps it.
    client: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role != ADMIN_ROLE {
            tracing::debug!("admin request refused: the caller is no longer an administrator");
            return Err(ApiError::NotAdmin);
        }
        let client_ip = ClientIp::from_request_parts(parts, state).await;
        Ok(Self {
            user_id: caller.user_id,
            name: caller.user_id.to_string(),
            client: client_address(client_ip)?.to_canonical().to_string(),
        })
    }
}

impl Admin {
    /// The audit trail's actor: this administrator, from where they are, now.
    fn actor(&self, state: &AppState) -> Actor<'_> {
        Actor {
            name: &self.name,
            client_ip: Some(&self.client),
            now: unix_seconds(state.clock.now()),
        }
    }
}

/// A user as the admin API shows one.
#[derive(Serialize)]
struct UserBody {
    id: String,
    email: Option<String>,
    phone: Option<String>,
    role: String,
    created_at: i64,
    email_verified: bool,
    disabled: bool,
    disabled_at: Option<i64>,
}

impl From<UserSummary> for UserBody {
    fn from(user: UserSummary) -> Self {
        Self {
            id: user.id.to_string(),
            email_verified: user.email_verified_at.is_some(),
            email: user.email,
            phone: user.phone,
            role: user.role,
            created_at: user.created_at,
            disabled: user.disabled_at.is_some(),
            disabled_at: user.disabled_at,
        }
    }
}

#[derive(Deserialize)]
struct PageParams {
    query: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// A page and where the next one starts (`null` on the last page).
#[derive(Serialize)]
struct UsersPage {
    users: Vec<UserBody>,
    next_cursor: Option<String>,
}

/// `GET /admin/users?query=&cursor=&limit=`: users in creation order whose e-mail or phone
/// contains `query` (case-insensitive), `limit` (1 to 200, default 50) per page. Keyset
/// pagination: the cursor is the last id of the page, so accounts created while paging appear
/// at the end and none is repeated or skipped.
async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<UsersPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (after, limit) = page(&params)?;
    let contains = params.query.unwrap_or_default().trim().to_lowercase();
    let mut users = state
        .store
        .list_users(&UserQuery {
            contains: &contains,
            after,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = next_cursor(&mut users, limit, |user| user.id);
    Ok(Json(UsersPage {
        users: users.into_iter().map(UserBody::from).collect(),
        next_cursor,
    }))
}

/// The position after which a page starts and its size, from the query string.
fn page(params: &PageParams) -> Result<(Option<Uuid>, i64), ApiError> {
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be a whole number from 1 to {MAX_PAGE}"))
            })?,
    };
    Ok((after, limit))
}

/// Trims a page fetched one row long to `limit` rows, and says where the next one starts if
/// that extra row was there.
fn next_cursor<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last()
        .map(|row| URL_SAFE_NO_PAD.encode(id(row).as_bytes()))
}

fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::BadRequest("cursor is not one this API returned".into()))
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| NO_SUCH_USER)
}

/// A user and their sessions (ended ones too, until pruned).
#[derive(Serialize)]
struct UserDetail {
    #[serde(flatten)]
    user: UserBody,
    sessions: Vec<SessionBody>,
}

/// `GET /admin/users/{id}`.
async fn show_user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let id = user_id(&id)?;
    let user = state.store.user_summary(id).await?.ok_or(NO_SUCH_USER)?;
    let sessions = state.store.list_user_sessions(id).await?;
    Ok(Json(UserDetail {
        user: user.into(),
        sessions: sessions
            .into_iter()
            .map(|session| SessionBody::new(session, None))
            .collect(),
    }))
}

#[derive(Deserialize)]
struct UpdateRequest {
    role: Option<String>,
    disabled: Option<bool>,
    email_verified: Option<bool>,
}

/// `PATCH /admin/users/{id}` `{role?, disabled?, email_verified?}`: 200 with the user as now. Disabling ends
/// every session of the user at once; a new role is in the tokens from the next refresh.
async fn update_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let id = user_id(&id)?;
    let role = request
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if role.is_none() && request.disabled.is_none() && request.email_verified.is_none() {
        return Err(ApiError::Unprocessable(
            "nothing to change: give role, disabled or email_verified".into(),
        ));
    }
    let demoting_self = role.as_ref().is_some_and(|r| r.as_str() != ADMIN_ROLE);
    if id == admin.user_id && (demoting_self || request.disabled == Some(true)) {
        return Err(own_account());
    }
    let update = UserUpdate {
        role: role.as_ref(),
        disabled: request.disabled,
        email_verified: request.email_verified,
    };
    let actor = admin.actor(&state);
    let ended = state
        .store
        .update_user(id, &update, &actor)
        .await?
        .ok_or(NO_SUCH_USER)?;
    if role.is_some() {
        metrics::admin_action("user.set_role");
    }
    match request.disabled {
        Some(true) => {
            metrics::admin_action("user.disable");
            tracing::info!(user_id = %id, sessions_ended = ended, "account disabled");
        }
        Some(false) => metrics::admin_action("user.enable"),
        None => {}
    }
    match request.email_verified {
        Some(true) => metrics::admin_action("user.verify_email"),
        Some(false) => metrics::admin_action("user.unverify_email"),
        None => {}
    }
    let user = state.store.user_summary(id).await?.ok_or(NO_SUCH_USER)?;
    Ok(Json(user.into()))
}

/// An administrator locking themselves out is refused; another administrator, or the CLI, can
/// do it.
fn own_account() -> ApiError {
    ApiError::Unprocessable(
        "an administrator cannot disable, demote or delete their own account here; ask another administrator or use the issuer CLI".into(),
    )
}

/// `DELETE /admin/users/{id}`: 204. The account and its rows are gone; its sessions' access
/// tokens stay on the revocation list until they expire, and the e-mail can register again.
async fn delete_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = user_id(&id)?;
    if id == admin.user_id {
        return Err(own_account());
    }
    let actor = admin.actor(&state);
    if !state
        .store
        .delete_user(id, revocation_floor(actor.now), &actor)
        .await?
    {
        return Err(NO_SUCH_USER);
    }
    metrics::admin_action("user.delete");
    tracing::info!(user_id = %id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/users/{id}/sessions`: 204; every session of the user ends.
async fn end_sessions(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = user_id(&id)?;
    let actor = admin.actor(&state);
    let ended = state
        .store
        .end_user_sessions(id, &actor)
        .await?
        .ok_or(NO_SUCH_USER)?;
    metrics::admin_action("user.end_sessions");
    tracing::info!(user_id = %id, sessions_ended = ended, "sessions ended by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct AuditPage {
    entries: Vec<AuditBody>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct AuditBody {
    id: String,
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    client_ip: Option<String>,
    details: Option<Value>,
}

impl From<AuditRecord> for AuditBody {
    fn from(entry: AuditRecord) -> Self {
        Self {
            id: entry.id.to_string(),
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            client_ip: entry.client_ip,
            details: entry
                .details
                .and_then(|details| serde_json::from_str(&details).ok()),
        }
    }
}

/// `GET /admin/audit?cursor=&limit=`: the audit trail, newest first.
async fn audit(
    State(state): State<AppState>,
    _admin: Admin,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (before, limit) = page(&params)?;
    let mut entries = state.store.audit_entries(before, limit + 1).await?;
    let next_cursor = next_cursor(&mut entries, limit, |entry| entry.id);
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(AuditBody::from).collect(),
        next_cursor,
    }))
}
