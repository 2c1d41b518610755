//! `POST /register {email, password, role?}` -> 201 `{id, email, role}`; with
//! `REGISTRATION_ENUMERATION_SAFE`, 202 `{"status":"pending"}` whether or not the e-mail was
//! free: the mail says which, and the account is made by `POST /register/confirm {token}`
//! ([`crate::routes::email`]). With mail on, a new account is sent a verification link.
//!
//! At most `REGISTRATIONS_PER_CLIENT` an hour from one client address (see
//! [`crate::limits::RegistrationLimit`]): each registration costs an argon2 hash.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
pub(crate) struct RegisteredUser {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: String,
}

/// What `POST /register` answers: the account, or (`REGISTRATION_ENUMERATION_SAFE`) the same
/// 202 whether or not the e-mail was free.
pub(crate) enum Registered {
    Created(RegisteredUser),
    Pending,
}

impl IntoResponse for Registered {
    fn into_response(self) -> Response {
        match self {
            Self::Created(user) => (StatusCode::CREATED, Json(user)).into_response(),
            Self::Pending => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "status": "pending" })),
            )
                .into_response(),
        }
    }
}

async fn register(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<Registered, ApiError> {
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

    if state.registration_enumeration_safe
        && let Some(mail) = &state.account_mail
    {
        // The same answer for a free and a taken address, after the same work (this hash);
        // the lookup, and the account itself, wait for the mail (see `AccountMail::sign_up`).
        let password_hash = admission.hash(password).await?;
        mail.sign_up(email, password_hash, role);
        return Ok(Registered::Pending);
    }
    let account = create_account(
        &state.store,
        admission,
        email,
        password,
        role,
        state.clock.now(),
        false,
    )
    .await?;
    if let Some(mail) = &state.account_mail {
        mail.welcome(account.email.clone());
    }
    Ok(Registered::Created(RegisteredUser {
        id: account.id.to_string(),
        email: account.email.to_string(),
        role: account.role.to_string(),
    }))
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
