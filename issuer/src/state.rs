//! Shared state handed to every handler.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::SessionPolicy;
use crate::domain::Role;
use crate::limits::RegistrationLimit;
use crate::otp::Otp;
use crate::passwords::PasswordHashing;
use crate::storage::Store;
use crate::throttle::LoginThrottle;
use crate::tokens::Signer;

/// Everything handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Users and sessions.
    pub store: Store,
    /// Signs access tokens and publishes the keys.
    pub signer: Arc<Signer>,
    /// argon2id, off the runtime.
    pub passwords: PasswordHashing,
    /// Failed-login back-off.
    pub throttle: LoginThrottle,
    /// Registrations per client address.
    pub registrations: RegistrationLimit,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Claims and lifetimes of issued tokens.
    pub tokens: Arc<TokenSettings>,
    /// Phone login; `None` when `OTP_PROVIDER=off`.
    pub otp: Option<Arc<Otp>>,
}

/// What goes into issued tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss`, and the public base URL.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Session lifetime.
    pub refresh_token_ttl: Duration,
    /// Refresh grace window and idle expiry.
    pub sessions: SessionPolicy,
    /// Roles `/register` may grant; the first is the default.
    pub self_service_roles: Vec<Role>,
    /// How long verifiers may cache the JWKS and public keys.
    pub jwks_max_age: Duration,
}
