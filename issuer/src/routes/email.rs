//! Password reset and e-mail verification by mail (only while `EMAIL_PROVIDER` is set):
//! `POST /password-reset {email}` -> 202, `POST /password-reset/confirm {token, new_password}`
//! -> 204, `POST /email/verify {email}` -> 202, `POST /email/verify/confirm {token}` -> 204,
//! `POST /register/confirm {token}` -> 201 (`REGISTRATION_ENUMERATION_SAFE`).
//!
//! The rules (no enumeration, limits, tokens) live in [`crate::account_mail`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::client_address;
use super::register::RegisteredUser;
use crate::account_mail::AccountMail;
use crate::clock::unix_seconds;
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::state::AppState;
use crate::storage::{Redemption, TokenPurpose};
use crate::tokens::{OPAQUE_TOKEN_LEN, opaque_token_hash};

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    let confirm_reset = metrics::count_results(
        Router::new().route("/password-reset/confirm", post(confirm_reset)),
        metrics::PASSWORD_RESETS_TOTAL,
    );
    Router::new()
        .route("/password-reset", post(request_reset))
        .route("/email/verify", post(request_verification))
        .route("/email/verify/confirm", post(confirm_verification))
        .route("/register/confirm", post(confirm_sign_up))
        .merge(confirm_reset)
}

#[derive(Deserialize)]
struct MailRequest {
    email: String,
}

/// The one answer to every mail request.
#[derive(Serialize)]
struct Pending {
    status: &'static str,
}

fn mail(state: &AppState) -> Result<&AccountMail, ApiError> {
    state
        .account_mail
        .as_ref()
        .ok_or(ApiError::NotFound("mail is not enabled"))
}

async fn request_reset(
    state: State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    request: ApiJson<MailRequest>,
) -> Result<(StatusCode, Json<Pending>), ApiError> {
    request_mail(TokenPurpose::PasswordReset, state, client_ip, request).await
}

async fn request_verification(
    state: State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    request: ApiJson<MailRequest>,
) -> Result<(StatusCode, Json<Pending>), ApiError> {
    request_mail(TokenPurpose::EmailVerification, state, client_ip, request).await
}

async fn request_mail(
    purpose: TokenPurpose,
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<MailRequest>,
) -> Result<(StatusCode, Json<Pending>), ApiError> {
    let mail = mail(&state)?;
    let client_ip = client_address(client_ip)?;
    let email = Email::parse(&request.email).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    mail.request(purpose, email, client_ip).await?;
    Ok((StatusCode::ACCEPTED, Json(Pending { status: "pending" })))
}

#[derive(Deserialize)]
struct ResetConfirmation {
    token: String,
    new_password: String,
}

/// Checks the token before hashing (a wrong token costs no hash), then uses it up with the
/// new password, ending every session of the account.
async fn confirm_reset(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<ResetConfirmation>,
) -> Result<StatusCode, ApiError> {
    let mail = mail(&state)?;
    let client_ip = client_address(client_ip)?;
    let password = Password::parse(request.new_password)
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    mail.count_confirmation(TokenPurpose::PasswordReset, client_ip)
        .await?;
    let token_hash = live_token(&state, &request.token, TokenPurpose::PasswordReset).await?;
    let password_hash = state
        .passwords
        .admit()
        .map_err(|busy| ApiError::shed("password_reset", busy.retry_after))?
        .hash(password)
        .await?;
    let now = unix_seconds(state.clock.now());
    let user = state
        .store
        .redeem_email_token(
            &token_hash,
            Redemption::PasswordReset {
                password_hash: &password_hash,
            },
            now,
        )
        .await?
        .ok_or(ApiError::InvalidMailToken)?;
    tracing::info!(user_id = %user, "password reset; every session ended");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct VerifyConfirmation {
    token: String,
}

async fn confirm_verification(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<VerifyConfirmation>,
) -> Result<StatusCode, ApiError> {
    let mail = mail(&state)?;
    let client_ip = client_address(client_ip)?;
    mail.count_confirmation(TokenPurpose::EmailVerification, client_ip)
        .await?;
    let now = unix_seconds(state.clock.now());
    let token_hash = opaque_token_hash(&request.token);
    let user = state
        .store
        .redeem_email_token(&token_hash, Redemption::EmailVerification, now)
        .await?
        .ok_or(ApiError::InvalidMailToken)?;
    tracing::info!(user_id = %user, "e-mail verified");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /register/confirm {token}` (`REGISTRATION_ENUMERATION_SAFE`): the pending sign-up
/// becomes an account, its address verified; 201 `{id, email, role}` as `/register` answers
/// otherwise.
async fn confirm_sign_up(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<VerifyConfirmation>,
) -> Result<(StatusCode, Json<RegisteredUser>), ApiError> {
    let mail = mail(&state)?;
    if !state.registration_open {
        return Err(ApiError::RegistrationClosed);
    }
    let client_ip = client_address(client_ip)?;
    mail.count_confirmation(TokenPurpose::EmailVerification, client_ip)
        .await?;
    let now = unix_seconds(state.clock.now());
    let account = state
        .store
        .confirm_registration(&opaque_token_hash(&request.token), Uuid::now_v7(), now)
        .await?
        .ok_or(ApiError::InvalidMailToken)?;
    tracing::info!(user_id = %account.id, "sign-up confirmed");
    let body = RegisteredUser {
        id: account.id.to_string(),
        email: account.email,
        role: account.role,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The stored hash of `token` if it is a live token of `purpose`.
async fn live_token(
    state: &AppState,
    token: &str,
    purpose: TokenPurpose,
) -> Result<String, ApiError> {
    if token.len() != OPAQUE_TOKEN_LEN {
        return Err(ApiError::InvalidMailToken);
    }
    let token_hash = opaque_token_hash(token);
    let now = unix_seconds(state.clock.now());
    match state
        .store
        .peek_email_token(&token_hash, purpose, now)
        .await?
    {
        Some(_) => Ok(token_hash),
        None => Err(ApiError::InvalidMailToken),
    }
}
