//! `POST /register {email, password, role?}` -> 201 `{id, email, role}`.
//!
//! At most `REGISTRATIONS_PER_CLIENT` an hour from one client address (see
//! [`crate::limits::RegistrationLimit`]): each registration costs an argon2 hash.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::{Deserialize, Serialize};

use super::client::client_address;
use crate::accounts::create_account;
use crate::domain::{Email, Password, Role};
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::state::AppState;

/// Routes of this feature: `POST /register`, or, when registration is closed, its 403
/// `registration_closed` whatever the body (nothing is read, counted or hashed).
pub fn router(open: bool) -> Router<AppState> {
    let route = if open {
        post(register)
    } else {
        post(async || ApiError::RegistrationClosed)
    };
    metrics::count_results(
        Router::new().route("/register", route),
        metrics::REGISTRATIONS_TOTAL,
    )
}

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: String,
    role: Option<String>,
}

#[derive(Serialize)]
struct RegisteredUser {
    id: String,
    email: String,
    role: String,
}

async fn register(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisteredUser>), ApiError> {
    let client_ip = client_address(client_ip)?;
    let unprocessable = |e: &dyn std::fmt::Display| ApiError::Unprocessable(e.to_string());
    let email = Email::parse(&request.email).map_err(|e| unprocessable(&e))?;
    let password = Password::parse(request.password).map_err(|e| unprocessable(&e))?;
    let role = self_service_role(request.role.as_deref(), &state.self_service_roles)?;
    // Admitted first: a registration turned away uses none of the address's allowance.
    let admission = state
        .passwords
        .admit()
        .map_err(|busy| ApiError::shed("register", busy.retry_after))?;
    // Counted before the hash, once the request is one that would cost one.
    if let Some(retry_after) = state.registrations.count(client_ip).await? {
        tracing::debug!("registration refused: too many from this address");
        return Err(ApiError::limited("register", retry_after));
    }

    let account = create_account(
        &state.store,
        admission,
        email,
        password,
        role,
        state.clock.now(),
    )
    .await?;
    let body = RegisteredUser {
        id: account.id.to_string(),
        email: account.email.to_string(),
        role: account.role.to_string(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The requested role if self-service may grant it; the first allowed role when none is asked.
fn self_service_role(requested: Option<&str>, allowed: &[Role]) -> Result<Role, ApiError> {
    let not_allowed = || {
        let names: Vec<&str> = allowed.iter().map(Role::as_str).collect();
        ApiError::Unprocessable(format!(
            "role is not allowed; choose one of: {}",
            names.join(", ")
        ))
    };
    match requested {
        None => allowed.first().cloned().ok_or_else(not_allowed),
        Some(raw) => {
            let role = Role::parse(raw).map_err(|_| not_allowed())?;
            if allowed.contains(&role) {
                Ok(role)
            } else {
                Err(not_allowed())
            }
        }
    }
}
