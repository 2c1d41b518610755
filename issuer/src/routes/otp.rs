//! Phone login: `POST /otp/start {phone}` -> 202, `POST /otp/verify {phone, code}` -> 200
//! token response (RFC 6749 5.1), as from `POST /login`.
//!
//! Start answers the same whether or not the number has an account: nobody learns who is
//! registered. The first right code for a number creates its account, with the role `OTP_ROLE`
//! (`user`); later ones log into it. Sessions, refresh, logout and revocation are those of password
//! logins. Limits: see [`crate::otp::OtpLimits`]; beyond `OTP_MAX_CONCURRENT` provider calls in
//! flight, both answer 503 + `Retry-After` at once ([`Otp::admit`]).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use super::client::{client_address, client_info};
use super::token_response::TokenResponse;
use crate::accounts::phone_account;
use crate::clock::unix_seconds;
use crate::domain::{OtpCode, Phone};
use crate::error::{ApiError, ApiJson};
use crate::metrics;
use crate::otp::{BUSY_RETRY_AFTER, Check, Otp};
use crate::state::AppState;

/// Routes of this feature (mounted only when `OTP_PROVIDER` is not `off`).
pub fn router() -> Router<AppState> {
    let start = metrics::count_results(
        Router::new().route("/otp/start", post(start)),
        metrics::OTP_STARTS_TOTAL,
    );
    let verify = metrics::count_results(
        Router::new().route("/otp/verify", post(verify)),
        metrics::OTP_VERIFICATIONS_TOTAL,
    );
    start.merge(verify)
}

#[derive(Deserialize)]
struct StartRequest {
    phone: String,
}

#[derive(Deserialize)]
struct VerifyRequest {
    phone: String,
    code: String,
}

/// The answer to a start: the code is on its way.
#[derive(Serialize)]
struct Started {
    status: &'static str,
}

fn enabled(state: &AppState) -> Result<&Arc<Otp>, ApiError> {
    state
        .otp
        .as_ref()
        .ok_or(ApiError::NotFound("phone login is not enabled"))
}

/// A place for one provider call on `endpoint` (held until the call returns), or the 503 that
/// turns the request away before anything is counted.
fn provider_call(otp: &Otp, endpoint: &'static str) -> Result<OwnedSemaphorePermit, ApiError> {
    otp.admit()
        .ok_or_else(|| ApiError::shed(endpoint, BUSY_RETRY_AFTER))
}

/// Checks a code sent to `phone`, asked by `client_ip`: one provider call (or 503), counted
/// against the check limits (or 429) before it is made, 401 `invalid_credentials` for a wrong,
/// expired or used code. A right code is used up and resets the number's check count.
pub(crate) async fn check_code(
    otp: &Otp,
    client_ip: IpAddr,
    phone: &Phone,
    code: &str,
) -> Result<(), ApiError> {
    let code = OtpCode::parse(code).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let call = provider_call(otp, "otp_verify")?;
    if let Some(retry_after) = otp.limits.count_check(phone, client_ip).await? {
        tracing::debug!(?phone, "code not checked: check limit reached");
        return Err(ApiError::limited("otp_verify", retry_after));
    }
    if otp.provider.check(phone, &code).await? == Check::Rejected {
        tracing::debug!(?phone, "code refused: wrong, expired or used");
        return Err(ApiError::InvalidCode);
    }
    drop(call);
    otp.limits.clear_checks(phone).await?;
    Ok(())
}

fn parse_phone(raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

async fn start(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    ApiJson(request): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let otp = enabled(&state)?;
    let client_ip = client_address(client_ip)?;
    let phone = parse_phone(&request.phone)?;
    let _call = provider_call(otp, "otp_start")?;
    if let Some(retry_after) = otp.limits.count_send(&phone, client_ip).await? {
        tracing::debug!(?phone, "code not sent: send limit reached");
        return Err(ApiError::limited("otp_start", retry_after));
    }
    otp.provider.send(&phone).await?;
    let body = Json(Started { status: "pending" });
    Ok((StatusCode::ACCEPTED, body))
}

async fn verify(
    State(state): State<AppState>,
    client_ip: Result<ClientIp, ClientIpRejection>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<TokenResponse, ApiError> {
    let otp = enabled(&state)?;
    let client_ip = client_address(client_ip)?;
    let phone = parse_phone(&request.phone)?;
    check_code(otp, client_ip, &phone, &request.code).await?;
    // The code is used up from here: a database failure below answers 503, and the client
    // asks for a new code.
    let now = state.clock.now();
    let user = if state.registration_open {
        phone_account(&state.store, &phone, &otp.role, now).await?
    } else {
        // Only the holder of the number learns that it has no account.
        state
            .store
            .find_user_by_phone(&phone, unix_seconds(now))
            .await?
            .ok_or(ApiError::RegistrationClosed)?
    };
    let client = client_info(client_ip, &headers);
    Ok(state.sessions.start(&user, &client).await?.into())
}
