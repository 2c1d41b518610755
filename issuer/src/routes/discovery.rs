//! `GET /.well-known/openid-configuration`: where the keys and endpoints are.
//!
//! Only the fields this issuer can honour are listed: `issuer` and `jwks_uri` as in OpenID
//! Connect Discovery (which JWKS clients read), plus this issuer's own endpoint names (the
//! phone-login ones only while phone login is on). URLs are
//! built from `JWT_ISSUER`, which must therefore be the issuer's public base URL. It changes
//! only with the configuration, so it is cacheable like the JWKS (`public, max-age=JWKS_MAX_AGE`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::routes::jwks::cache_control;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/openid-configuration", get(discovery))
}

#[derive(Serialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    /// Only while self-registration is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    login_endpoint: String,
    refresh_endpoint: String,
    logout_endpoint: String,
    /// `GET /me`: the caller's account, in OpenID Connect `userinfo` claims where they exist.
    userinfo_endpoint: String,
    sessions_endpoint: String,
    password_change_endpoint: String,
    logout_all_endpoint: String,
    revoked_sessions_endpoint: String,
    public_key_endpoint: String,
    /// The admin API (role `admin`).
    admin_users_endpoint: String,
    admin_audit_endpoint: String,
    /// Phone login, only when it is on (`OTP_PROVIDER` not `off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    otp_start_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    otp_verify_endpoint: Option<String>,
    /// Mail, only when it is on (`EMAIL_PROVIDER` not `off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    password_reset_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verification_endpoint: Option<String>,
    token_signing_alg_values_supported: Vec<String>,
}

async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = state.tokens.issuer.clone();
    let base = issuer.trim_end_matches('/');
    let url = |path: &str| format!("{base}{path}");
    let body = Json(Discovery {
        jwks_uri: url("/.well-known/jwks.json"),
        registration_endpoint: state.registration_open.then(|| url("/register")),
        login_endpoint: url("/login"),
        refresh_endpoint: url("/refresh"),
        logout_endpoint: url("/logout"),
        userinfo_endpoint: url("/me"),
        sessions_endpoint: url("/me/sessions"),
        password_change_endpoint: url("/me/password"),
        logout_all_endpoint: url("/logout-all"),
        revoked_sessions_endpoint: url("/revoked-sessions"),
        public_key_endpoint: url("/public-key"),
        admin_users_endpoint: url("/admin/users"),
        admin_audit_endpoint: url("/admin/audit"),
        otp_start_endpoint: state.otp.is_some().then(|| url("/otp/start")),
        otp_verify_endpoint: state.otp.is_some().then(|| url("/otp/verify")),
        password_reset_endpoint: state.account_mail.is_some().then(|| url("/password-reset")),
        email_verification_endpoint: state.account_mail.is_some().then(|| url("/email/verify")),
        token_signing_alg_values_supported: vec![format!("{:?}", state.signer.algorithm())],
        issuer,
    });
    ([(header::CACHE_CONTROL, cache_control(&state))], body)
}
