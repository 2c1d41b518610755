//! Sessions: started at login, refreshed by rotating refresh tokens, ended by logout, reuse
//! detection or an operator, and pruned once nothing can depend on them.
//!
//! Guarantees (SQLite and PostgreSQL alike, across replicas sharing one database):
//! - A refresh token rotates exactly once: the database's compare-and-set picks one winner among
//!   concurrent refreshes, so a session never forks into two token chains.
//! - A duplicate of a used token within the grace window (`REFRESH_GRACE_PERIOD`, default 5 s)
//!   receives the same successor, recovered from the used token's row where it is stored sealed
//!   to the used token (the database alone cannot open it). After the window, a used token ends
//!   the whole session: its active token and every access token's `sid` are revoked.
//! - A database error leaves the presented token as it was, so the client can retry.
//! - Ended sessions are listed at `GET /revoked-sessions` until their newest access token has
//!   expired (plus [`REVOCATION_MARGIN`] for verifiers' leeway), then pruned.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::clock::{Clock, unix_seconds};
use crate::metrics;
use crate::storage::{
    EndReason, NewSession, PrunePolicy, RefreshTokenRecord, Rotation, RotationOutcome,
    SessionScope, SessionSummary, Store, StoreError, UserRecord,
};
use crate::time::seconds;
use crate::tokens::{
    AccessClaims, OPAQUE_TOKEN_LEN, SealError, SessionPolicy, SignError, Signer, Subject,
    TokenSettings, new_opaque_token, opaque_token_hash, open_successor, seal_successor,
};

/// How long after an access token's `exp` its ended session stays on the revocation list: the
/// largest leeway the verifier layer accepts, so no verifier can still take the token once its
/// session leaves the list.
pub const REVOCATION_MARGIN: Duration = verifier_middleware::MAX_LEEWAY;

/// The oldest `exp` (Unix seconds) an access token may have and still be accepted somewhere at
/// `now`: its session must stay on the revocation list until then.
pub fn revocation_floor(now: i64) -> i64 {
    now.saturating_sub(seconds(REVOCATION_MARGIN))
}

/// Longest `User-Agent` kept with a session, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// How much longer than the grace window a sealed successor is kept, so that replicas whose
/// clocks differ by up to this much never find it erased inside their window.
const SEALED_SUCCESSOR_SLACK: Duration = Duration::from_secs(60);

/// Sessions deleted per statement when pruning.
const PRUNE_BATCH: i64 = 1_000;

/// A freshly issued access token and refresh token; `Debug` shows neither.
pub struct TokenPair {
    /// The signed access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The opaque refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// Where a login came from, kept with the session for the user and operators.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address as the issuer saw it.
    pub ip: Option<String>,
    /// The `User-Agent` header, truncated.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Client info from a peer address and an optional `User-Agent` value.
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        }
    }
}

/// Why a refresh token was refused; logged, never told apart to the client (one `invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unknown,
    Ended,
    Expired,
    Idle,
    Reused,
    Disabled,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown token",
            Self::Ended => "session ended",
            Self::Expired => "session expired",
            Self::Idle => "session idle too long",
            Self::Reused => "used token presented after the grace window",
            Self::Disabled => "account disabled",
        }
    }
}

fn refuse(reason: Refusal) -> SessionError {
    tracing::debug!(reason = reason.as_str(), "refresh token refused");
    SessionError::InvalidGrant
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The refresh token is unknown, expired, reused or revoked (one answer for all; the
    /// reason is logged at debug).
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidGrant,
    /// An administrator disabled the account: no session starts (told only to someone who
    /// proved the password or the phone).
    #[error("the account is disabled")]
    Disabled,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The access token could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A grace-window successor could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Starts, refreshes and ends sessions; cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    signer: Arc<Signer>,
    clock: Arc<dyn Clock>,
    settings: Arc<TokenSettings>,
}

impl Sessions {
    /// Sessions kept in `store`, their access tokens signed by `signer` with `settings`.
    pub fn new(
        store: Store,
        signer: Arc<Signer>,
        clock: Arc<dyn Clock>,
        settings: Arc<TokenSettings>,
    ) -> Self {
        Self {
            store,
            signer,
            clock,
            settings,
        }
    }

    /// Starts a session for `user` and issues its first token pair, unless the account is
    /// disabled, gone, or no longer has the password the login checked (a change, a reset or
    /// an administrator won the race).
    pub async fn start(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> Result<TokenPair, SessionError> {
        if user.disabled {
            return Err(SessionError::Disabled);
        }
        let now = self.clock.now();
        let session_id = Uuid::now_v7();
        let expires_at = unix_seconds(now + self.settings.refresh_token_ttl);
        let subject = Subject {
            user_id: user.id,
            session_id,
            email: user.email.as_deref(),
            phone_number: user.phone.as_deref(),
            role: &user.role,
        };
        let access = self.sign_access(&subject, now, expires_at)?;
        let refresh_token = new_opaque_token();
        let inserted = self
            .store
            .insert_session(&NewSession {
                id: session_id,
                user_id: user.id,
                refresh_token_hash: &opaque_token_hash(&refresh_token),
                created_at: unix_seconds(now),
                expires_at,
                access_expires_at: access.exp,
                client_ip: client.ip.as_deref(),
                user_agent: client.user_agent.as_deref(),
                checked_password_hash: user.password_hash.as_deref(),
            })
            .await?;
        if !inserted {
            return Err(SessionError::Disabled);
        }
        Ok(access.with_refresh_token(refresh_token))
    }

    /// Rotates `token`: the caller gets a new pair and `token` is used up.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, SessionError> {
        if token.len() != OPAQUE_TOKEN_LEN {
            return Err(refuse(Refusal::Unknown));
        }
        let hash = opaque_token_hash(token);
        let now = self.clock.now();
        let record = self.find_live(&hash, now).await?;
        if record.used_at.is_some() {
            return self.duplicate(token, &record, now).await;
        }
        let successor = new_opaque_token();
        let access = self.sign_access(&record.subject(), now, record.expires_at)?;
        let outcome = self
            .store
            .rotate_refresh_token(&Rotation {
                session_id: record.session_id,
                old_hash: &hash,
                new_hash: &opaque_token_hash(&successor),
                successor_sealed: &seal_successor(token, &successor, record.session_id)?,
                now: unix_seconds(now),
                access_expires_at: access.exp,
            })
            .await?;
        match outcome {
            RotationOutcome::Rotated => Ok(access.with_refresh_token(successor)),
            RotationOutcome::SessionEnded => Err(refuse(Refusal::Ended)),
            // Another request rotated it between our read and our write: it is now a duplicate.
            RotationOutcome::AlreadyUsed => {
                let record = self.find_live(&hash, now).await?;
                self.duplicate(token, &record, now).await
            }
        }
    }

    /// Ends the session `token` belongs to. Unknown tokens and ended sessions are not errors:
    /// logging out is idempotent and tells nothing about the token.
    pub async fn logout(&self, token: &str) -> Result<(), SessionError> {
        if token.len() != OPAQUE_TOKEN_LEN {
            return Ok(());
        }
        let hash = opaque_token_hash(token);
        if let Some(record) = self.store.find_refresh_token(&hash).await? {
            let now = unix_seconds(self.clock.now());
            let scope = SessionScope::Session(record.session_id);
            if self
                .store
                .end_sessions(scope, EndReason::Logout, now)
                .await?
                > 0
            {
                tracing::info!(sid = %record.session_id, "session ended by logout");
            }
        }
        Ok(())
    }

    /// The token's record, if its session can still refresh.
    async fn find_live(
        &self,
        hash: &str,
        now: SystemTime,
    ) -> Result<RefreshTokenRecord, SessionError> {
        let record = self
            .store
            .find_refresh_token(hash)
            .await?
            .ok_or_else(|| refuse(Refusal::Unknown))?;
        let now = unix_seconds(now);
        if record.ended_at.is_some() {
            Err(refuse(Refusal::Ended))
        } else if record.user_disabled {
            Err(refuse(Refusal::Disabled))
        } else if let Some(lapsed) = self.lapsed(record.expires_at, record.last_used_at, now) {
            Err(refuse(lapsed))
        } else {
            Ok(record)
        }
    }

    /// Why a session that has not ended can refresh no more at `now` (past its absolute expiry,
    /// or idle longer than `SESSION_IDLE_TTL`); `None` while it can.
    fn lapsed(&self, expires_at: i64, last_used_at: i64, now: i64) -> Option<Refusal> {
        let idle = self.settings.sessions.idle_ttl.map(seconds);
        if now >= expires_at {
            Some(Refusal::Expired)
        } else if idle.is_some_and(|idle| now >= last_used_at.saturating_add(idle)) {
            Some(Refusal::Idle)
        } else {
            None
        }
    }

    /// The user's sessions that can still refresh (not ended, expired or idle), newest first:
    /// the ones a refresh would accept now.
    pub async fn live_sessions(&self, user_id: Uuid) -> Result<Vec<SessionSummary>, StoreError> {
        let now = unix_seconds(self.clock.now());
        let mut sessions = self.store.list_user_sessions(user_id).await?;
        sessions.retain(|session| {
            session.ended.is_none()
                && self
                    .lapsed(session.expires_at, session.last_used_at, now)
                    .is_none()
        });
        Ok(sessions)
    }

    /// A used token again: the same successor within the grace window, else the session ends.
    async fn duplicate(
        &self,
        token: &str,
        record: &RefreshTokenRecord,
        now: SystemTime,
    ) -> Result<TokenPair, SessionError> {
        let grace = self.settings.sessions.reuse_grace;
        let used_at = record.used_at.unwrap_or(i64::MIN);
        let in_grace =
            !grace.is_zero() && unix_seconds(now).saturating_sub(used_at) <= seconds(grace);
        if in_grace {
            // The pruner keeps sealed successors well past the window, so a missing one means the
            // clocks of replicas disagree: refuse, but do not sign a legitimate client out.
            let sealed = record
                .successor_sealed
                .as_deref()
                .ok_or_else(|| refuse(Refusal::Unknown))?;
            let successor = open_successor(token, sealed, record.session_id)?;
            let access = self.sign_access(&record.subject(), now, record.expires_at)?;
            self.store
                .extend_session_access(record.session_id, access.exp)
                .await?;
            return Ok(access.with_refresh_token(successor));
        }
        metrics::refresh_token_reused();
        let scope = SessionScope::Session(record.session_id);
        if self
            .store
            .end_sessions(scope, EndReason::Reuse, unix_seconds(now))
            .await?
            > 0
        {
            tracing::warn!(
                sid = %record.session_id,
                user_id = %record.user_id,
                "refresh token reuse detected: session ended"
            );
        }
        Err(refuse(Refusal::Reused))
    }

    fn sign_access(
        &self,
        subject: &Subject<'_>,
        now: SystemTime,
        session_expires_at: i64,
    ) -> Result<SignedAccess, SessionError> {
        let settings = &self.settings;
        let remaining =
            u64::try_from(session_expires_at.saturating_sub(unix_seconds(now))).unwrap_or(0);
        let ttl = settings
            .access_token_ttl
            .min(Duration::from_secs(remaining.max(1)));
        let claims = AccessClaims::new(subject, &settings.issuer, &settings.audience, now, ttl);
        Ok(SignedAccess {
            token: self.signer.sign(&claims)?,
            exp: claims.exp,
            expires_in: ttl.as_secs(),
        })
    }
}

/// A signed access token not outliving its session.
struct SignedAccess {
    token: String,
    exp: i64,
    expires_in: u64,
}

impl SignedAccess {
    /// The pair handed out; every pair is made here, so it is counted here.
    fn with_refresh_token(self, refresh_token: String) -> TokenPair {
        metrics::token_issued();
        TokenPair {
            access_token: self.token,
            expires_in: self.expires_in,
            refresh_token,
        }
    }
}

impl RefreshTokenRecord {
    fn subject(&self) -> Subject<'_> {
        Subject {
            user_id: self.user_id,
            session_id: self.session_id,
            email: self.email.as_deref(),
            phone_number: self.phone.as_deref(),
            role: &self.role,
        }
    }
}

/// Deletes sessions nothing can depend on any more; returns how many.
pub async fn prune(
    store: &Store,
    now: SystemTime,
    policy: &SessionPolicy,
) -> Result<u64, StoreError> {
    store
        .prune_sessions(PrunePolicy {
            now: unix_seconds(now),
            revocation_margin: seconds(REVOCATION_MARGIN),
            idle_ttl: policy.idle_ttl.map(seconds),
            grace: seconds(policy.reuse_grace + SEALED_SUCCESSOR_SLACK),
            batch: PRUNE_BATCH,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_token() {
        let pair = TokenPair {
            access_token: "eyJ.secret-access".into(),
            expires_in: 900,
            refresh_token: "secret-refresh".into(),
        };
        let shown = format!("{pair:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let response = crate::routes::TokenResponse::from(pair);
        let shown = format!("{response:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
