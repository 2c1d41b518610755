//! The `sessions` and `refresh_tokens` tables.
//!
//! A session is born at login with one refresh token. Each rotation marks the presented token
//! used (keeping the row, so a second use is recognised as reuse) and inserts its successor, in
//! one transaction whose first statement is a compare-and-set on `used_at IS NULL`: of several
//! concurrent rotations, on one or many issuer replicas, exactly one wins. A partial unique
//! index keeps one unused token per session, whatever the code does.

use sqlx::{Database, Encode, FromRow, Type};
use uuid::Uuid;

use super::id::DbId;
use super::{Store, StoreError, on_pool};

/// A session to insert at login, with its first refresh token. `Debug` shows no hash.
pub struct NewSession<'a> {
    /// Session id (the `sid` claim).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Hash of the session's first refresh token.
    pub refresh_token_hash: &'a str,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Absolute expiry, Unix seconds.
    pub expires_at: i64,
    /// `exp` of the access token issued with it.
    pub access_expires_at: i64,
    /// The client's address, as the issuer saw it.
    pub client_ip: Option<&'a str>,
    /// The client's `User-Agent`, truncated.
    pub user_agent: Option<&'a str>,
    /// The password hash the login checked (`None` for a phone login): the session is only
    /// stored while the account still has it.
    pub checked_password_hash: Option<&'a str>,
}

impl std::fmt::Debug for NewSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A refresh token looked up by hash, with its session and user.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// The session.
    pub session_id: Uuid,
    /// When this token was rotated; `None` while it is the active one.
    pub used_at: Option<i64>,
    /// The successor encrypted to this token (see [`crate::tokens::seal_successor`]).
    pub successor_sealed: Option<String>,
    /// Session: last login or refresh.
    pub last_used_at: i64,
    /// Session: absolute expiry.
    pub expires_at: i64,
    /// Session: when it ended, if it did.
    pub ended_at: Option<i64>,
    /// The user.
    pub user_id: Uuid,
    /// The user's e-mail (current, not as at login); `None` for a phone user.
    pub email: Option<String>,
    /// The user's phone number (E.164); `None` for an e-mail user.
    pub phone: Option<String>,
    /// The user's role (current, not as at login).
    pub role: String,
    /// Whether an administrator disabled the user.
    pub user_disabled: bool,
}

/// One rotation: the presented token is used up and `new_hash` becomes the session's token.
#[derive(Debug)]
pub struct Rotation<'a> {
    /// The session.
    pub session_id: Uuid,
    /// Hash of the presented token.
    pub old_hash: &'a str,
    /// Hash of the successor.
    pub new_hash: &'a str,
    /// The successor sealed to the presented token, for duplicates within the grace window.
    pub successor_sealed: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
    /// `exp` of the access token issued with the successor.
    pub access_expires_at: i64,
}

/// What a rotation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Done: the successor is the session's token.
    Rotated,
    /// Another request used the token first; nothing was written.
    AlreadyUsed,
    /// The session ended meanwhile; nothing was written.
    SessionEnded,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `POST /logout`.
    Logout,
    /// A used refresh token was presented again after the grace window.
    Reuse,
    /// `issuer session revoke`.
    Admin,
    /// The user changed their password (every other session ends).
    PasswordChange,
    /// An administrator disabled the account.
    Disabled,
    /// The password was reset by mail (every session ends).
    PasswordReset,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Reuse => "reuse",
            Self::Admin => "admin",
            Self::PasswordChange => "password_change",
            Self::Disabled => "disabled",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// Which sessions [`Store::end_sessions`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// One session, by id.
    Session(Uuid),
    /// One session, by id, if it is this user's.
    Owned {
        /// The user.
        user: Uuid,
        /// The session.
        session: Uuid,
    },
    /// Every session of a user.
    User(Uuid),
    /// Every session of a user but one (the one asking).
    AllBut {
        /// The user.
        user: Uuid,
        /// The session kept.
        keep: Uuid,
    },
}

/// A session as listed to an operator.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    /// Id (`sid`).
    pub id: Uuid,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last login or refresh.
    pub last_used_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// Client address at login.
    pub client_ip: Option<String>,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// When it ended, and why.
    pub ended: Option<(i64, String)>,
}

/// Which sessions [`Store::prune_sessions`] may delete.
#[derive(Debug, Clone, Copy)]
pub struct PrunePolicy {
    /// Now, Unix seconds.
    pub now: i64,
    /// How long after an access token's `exp` its session id stays on the revocation list
    /// (verifiers accept tokens up to their leeway past `exp`).
    pub revocation_margin: i64,
    /// Sessions idle this long cannot refresh any more (`None`: no idle expiry).
    pub idle_ttl: Option<i64>,
    /// Sealed successors are erased this long after their token was used (the grace window
    /// plus slack for clock differences between replicas).
    pub grace: i64,
    /// Rows deleted per statement, so a large backlog never holds the write lock for long.
    pub batch: i64,
}

impl Store {
    /// Inserts a session and its first refresh token, atomically, if the user still exists, is
    /// not disabled and (for a password login) still has the password that was checked;
    /// `false` when not. The user's row is read under a share lock (PostgreSQL; SQLite writes
    /// one transaction at a time), so a login racing an administrator's disabling, a password
    /// change or reset, or a deletion either ends before it (and its session is ended with the
    /// others) or waits for it and is refused: no session slips in after "every session ended".
    pub async fn insert_session(&self, session: &NewSession<'_>) -> Result<bool, StoreError> {
        let check = self.locking([
            "SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NULL
               AND ($2 IS NULL OR password_hash = $2)",
            "SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NULL
               AND ($2::text IS NULL OR password_hash = $2) FOR SHARE",
        ]);
        let inserted = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let allowed = sqlx::query_scalar::<_, i32>(check)
                .bind(DbId(session.user_id))
                .bind(session.checked_password_hash)
                .fetch_optional(&mut *tx)
                .await?;
            if allowed.is_none() {
                tx.rollback().await.map(|()| false)
            } else {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at,
                                           access_expires_at, client_ip, user_agent)
                     VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
                )
                .bind(DbId(session.id))
                .bind(DbId(session.user_id))
                .bind(session.created_at)
                .bind(session.expires_at)
                .bind(session.access_expires_at)
                .bind(session.client_ip)
                .bind(session.user_agent)
                .execute(&mut *tx)
                .await?;
                insert_active_token(session.refresh_token_hash, session.id, session.created_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map(|()| true)
            }
        })?;
        Ok(inserted)
    }

    /// Finds a refresh token by hash, with its session and user.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, TokenRow>(
                "SELECT t.session_id, t.used_at, t.successor_sealed,
                        s.last_used_at, s.expires_at, s.ended_at,
                        u.id AS user_id, u.email, u.phone, u.role, u.disabled_at
                 FROM refresh_tokens t
                 JOIN sessions s ON s.id = t.session_id
                 JOIN users u ON u.id = s.user_id
                 WHERE t.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(RefreshTokenRecord::from))
    }

    /// Rotates a refresh token, atomically: either everything is written or nothing is.
    pub async fn rotate_refresh_token(
        &self,
        rotation: &Rotation<'_>,
    ) -> Result<RotationOutcome, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            // The compare-and-set: of concurrent rotations, only one sees `used_at IS NULL`.
            let used = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, successor_sealed = $2
                 WHERE token_hash = $3 AND used_at IS NULL",
            )
            .bind(rotation.now)
            .bind(rotation.successor_sealed)
            .bind(rotation.old_hash)
            .execute(&mut *tx)
            .await?;
            if used.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(RotationOutcome::AlreadyUsed);
            }
            let touched = sqlx::query(
                "UPDATE sessions
                 SET last_used_at = $1,
                     access_expires_at = CASE WHEN access_expires_at > $2
                                              THEN access_expires_at ELSE $2 END
                 WHERE id = $3 AND ended_at IS NULL",
            )
            .bind(rotation.now)
            .bind(rotation.access_expires_at)
            .bind(DbId(rotation.session_id))
            .execute(&mut *tx)
            .await?;
            if touched.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(RotationOutcome::SessionEnded);
            }
            insert_active_token(rotation.new_hash, rotation.session_id, rotation.now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(RotationOutcome::Rotated)
    }

    /// Records that a session issued another access token (a duplicate refresh within the grace
    /// window), so its id stays on the revocation list long enough if it ends.
    pub async fn extend_session_access(
        &self,
        session_id: Uuid,
        access_expires_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE sessions
                 SET access_expires_at = CASE WHEN access_expires_at > $1
                                              THEN access_expires_at ELSE $1 END
                 WHERE id = $2",
            )
            .bind(access_expires_at)
            .bind(DbId(session_id))
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Ends the live sessions in `scope`; returns how many (0 when they had ended already or
    /// do not exist).
    pub async fn end_sessions(
        &self,
        scope: SessionScope,
        reason: EndReason,
        now: i64,
    ) -> Result<u64, StoreError> {
        let ended = on_pool!(self, |pool| {
            end_sessions_query(scope, reason, now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(ended)
    }

    /// The current role of `user_id` if session `id` is theirs, has not ended, and the
    /// account is not disabled: what the issuer's own endpoints check of an access token beyond
    /// its signature and claims, so that a logout, a password change or an administrator ends
    /// that token's use there at once (and a changed role applies at once).
    pub async fn live_session_role(
        &self,
        id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let role = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT u.role FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = $1 AND s.user_id = $2 AND s.ended_at IS NULL
                   AND u.disabled_at IS NULL",
            )
            .bind(DbId(id))
            .bind(DbId(user_id))
            .fetch_optional(pool)
            .await
        })?;
        Ok(role)
    }

    /// A user's sessions, newest first.
    pub async fn list_user_sessions(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, SummaryRow>(
                "SELECT id, created_at, last_used_at, expires_at, client_ip, user_agent,
                        ended_at, end_reason
                 FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
            )
            .bind(DbId(user_id))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(SessionSummary::from).collect())
    }

    /// Ids of ended sessions whose access tokens may still be accepted somewhere: the newest
    /// one's `exp` plus `margin` is still ahead of `now`.
    pub async fn revoked_session_ids(
        &self,
        now: i64,
        margin: i64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids = on_pool!(self, |pool| {
            sqlx::query_scalar::<_, DbId>(
                "SELECT id FROM sessions
                 WHERE ended_at IS NOT NULL AND access_expires_at >= $1
                 UNION
                 SELECT id FROM revoked_sessions WHERE access_expires_at >= $1
                 ORDER BY id",
            )
            .bind(now.saturating_sub(margin))
            .fetch_all(pool)
            .await
        })?;
        Ok(ids.into_iter().map(Uuid::from).collect())
    }

    /// Deletes sessions (and their tokens) that can matter no more, and erases sealed
    /// successors past the grace window. Returns the number of sessions deleted.
    pub async fn prune_sessions(&self, policy: PrunePolicy) -> Result<u64, StoreError> {
        let access_gone = policy.now.saturating_sub(policy.revocation_margin);
        let idle_before = policy
            .idle_ttl
            .map_or(i64::MIN, |idle| policy.now.saturating_sub(idle));
        let full_batch = u64::try_from(policy.batch).unwrap_or(u64::MAX);
        let mut deleted = 0;
        on_pool!(self, |pool| {
            // A session is dead once it cannot refresh (expired, ended or idle) and no access
            // token of it can still be accepted (so it has left the revocation list).
            loop {
                let batch = sqlx::query(
                    "DELETE FROM sessions WHERE id IN (
                         SELECT id FROM sessions
                         WHERE access_expires_at < $1
                           AND (expires_at <= $2 OR ended_at IS NOT NULL OR last_used_at <= $3)
                         LIMIT $4)",
                )
                .bind(access_gone)
                .bind(policy.now)
                .bind(idle_before)
                .bind(policy.batch)
                .execute(pool)
                .await?
                .rows_affected();
                deleted += batch;
                if batch < full_batch {
                    break;
                }
            }
            // Sessions of deleted accounts leave the list as ended ones do.
            sqlx::query("DELETE FROM revoked_sessions WHERE access_expires_at < $1")
                .bind(access_gone)
                .execute(pool)
                .await?;
            sqlx::query(
                "UPDATE refresh_tokens SET successor_sealed = NULL
                 WHERE successor_sealed IS NOT NULL AND used_at < $1",
            )
            .bind(policy.now.saturating_sub(policy.grace))
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(deleted)
    }

    /// Row counts of `(sessions, refresh_tokens)`, for tests and operators.
    pub async fn session_counts(&self) -> Result<(i64, i64), StoreError> {
        let counts = on_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM refresh_tokens)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(counts)
    }
}

/// The statement ending the live sessions in `scope`, for a pool or the caller's transaction.
pub(super) fn end_sessions_query<DB>(
    scope: SessionScope,
    reason: EndReason,
    now: i64,
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> DbId: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let (sql, first, second) = match scope {
        SessionScope::Session(id) => (
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE id = $3 AND ended_at IS NULL",
            id,
            None,
        ),
        SessionScope::Owned { user, session } => (
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE user_id = $3 AND id = $4 AND ended_at IS NULL",
            user,
            Some(session),
        ),
        SessionScope::User(user) => (
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE user_id = $3 AND ended_at IS NULL",
            user,
            None,
        ),
        SessionScope::AllBut { user, keep } => (
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE user_id = $3 AND id <> $4 AND ended_at IS NULL",
            user,
            Some(keep),
        ),
    };
    let query = sqlx::query(sql)
        .bind(now)
        .bind(reason.as_str())
        .bind(DbId(first));
    match second {
        Some(id) => query.bind(DbId(id)),
        None => query,
    }
}

/// The statement inserting a session's new active refresh token, for the caller's transaction.
fn insert_active_token<DB>(
    token_hash: &str,
    session_id: Uuid,
    created_at: i64,
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> DbId: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(DbId(session_id))
    .bind(created_at)
}

#[derive(FromRow)]
struct TokenRow {
    session_id: DbId,
    used_at: Option<i64>,
    successor_sealed: Option<String>,
    last_used_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    user_id: DbId,
    email: Option<String>,
    phone: Option<String>,
    role: String,
    disabled_at: Option<i64>,
}

impl From<TokenRow> for RefreshTokenRecord {
    fn from(row: TokenRow) -> Self {
        Self {
            session_id: row.session_id.into(),
            used_at: row.used_at,
            successor_sealed: row.successor_sealed,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            ended_at: row.ended_at,
            user_id: row.user_id.into(),
            email: row.email,
            phone: row.phone,
            role: row.role,
            user_disabled: row.disabled_at.is_some(),
        }
    }
}

#[derive(FromRow)]
struct SummaryRow {
    id: DbId,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    client_ip: Option<String>,
    user_agent: Option<String>,
    ended_at: Option<i64>,
    end_reason: Option<String>,
}

impl From<SummaryRow> for SessionSummary {
    fn from(row: SummaryRow) -> Self {
        Self {
            id: row.id.into(),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            ended: row
                .ended_at
                .map(|at| (at, row.end_reason.unwrap_or_default())),
        }
    }
}
