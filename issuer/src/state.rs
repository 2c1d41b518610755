//! Shared state handed to every handler.

use std::sync::Arc;
use std::time::Duration;

use crate::account_mail::AccountMail;
use crate::clock::Clock;
use crate::domain::Role;
use crate::limits::RegistrationLimit;
use crate::login::PasswordLogin;
use crate::otp::Otp;
use crate::passwords::PasswordHashing;
use crate::sessions::Sessions;
use crate::storage::Store;
use crate::tokens::{Signer, TokenSettings};

/// Everything handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Users and sessions.
    pub store: Store,
    /// Signs access tokens and publishes the keys.
    pub signer: Arc<Signer>,
    /// argon2id, off the runtime.
    pub passwords: PasswordHashing,
    /// Password login, with its back-off.
    pub login: PasswordLogin,
    /// Registrations per client address.
    pub registrations: RegistrationLimit,
    /// Starts, refreshes and ends sessions.
    pub sessions: Sessions,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Claims and lifetimes of issued tokens.
    pub tokens: Arc<TokenSettings>,
    /// How long verifiers may cache the JWKS and public keys.
    pub jwks_max_age: Duration,
    /// Roles `/register` may grant; the first is the default.
    pub self_service_roles: Arc<[Role]>,
    /// Whether new accounts may sign themselves up (`REGISTRATION_OPEN`): by `/register`, or
    /// by a first phone login.
    pub registration_open: bool,
    /// Phone login; `None` when `OTP_PROVIDER=off`.
    pub otp: Option<Arc<Otp>>,
    /// Password reset and e-mail verification by mail; `None` when `EMAIL_PROVIDER=off`.
    pub account_mail: Option<AccountMail>,
    /// Password logins wait for a verified e-mail (`REQUIRE_EMAIL_VERIFICATION`).
    pub require_email_verification: bool,
    /// `POST /register` answers the same for a taken e-mail (`REGISTRATION_ENUMERATION_SAFE`).
    pub registration_enumeration_safe: bool,
}
