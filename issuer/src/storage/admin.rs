//! What administrators read and change: the user list (keyset pagination), role and disabled
//! changes, deletions, and the `audit_log` every one of those changes writes to in its own
//! transaction. The `revoked_sessions` table keeps the sessions of deleted accounts on the
//! revocation list until their access tokens have expired.

use sqlx::{Database, Encode, FromRow, Type};
use uuid::Uuid;

use super::id::DbId;
use super::sessions::end_sessions_query;
use super::{EndReason, SessionScope, Store, StoreError, on_pool};
use crate::domain::Role;

/// An account as an administrator sees it (no password hash).
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// Id.
    pub id: Uuid,
    /// Normalised e-mail; `None` for a phone user.
    pub email: Option<String>,
    /// E.164 phone number; `None` for an e-mail user.
    pub phone: Option<String>,
    /// Role.
    pub role: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When the e-mail was verified.
    pub email_verified_at: Option<i64>,
    /// When an administrator disabled the account.
    pub disabled_at: Option<i64>,
}

/// Which users [`Store::list_users`] returns: those after `after` in id order (ids are UUIDv7,
/// so creation order), whose e-mail or phone contains `contains`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct UserQuery<'a> {
    /// Lower-case text the e-mail or the phone number contains; empty for every user.
    pub contains: &'a str,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
    /// Most rows returned.
    pub limit: i64,
}

/// Who does an administrative action, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The administrator's user id, or `cli` for the command line.
    pub name: &'a str,
    /// The address the request came from (HTTP only).
    pub client_ip: Option<&'a str>,
    /// Now, Unix seconds.
    pub now: i64,
}

/// A change to an account; `None` leaves that field as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserUpdate<'a> {
    /// The new role.
    pub role: Option<&'a Role>,
    /// Disable (`true`: every session ends) or enable (`false`) the account.
    pub disabled: Option<bool>,
    /// Mark the e-mail verified (`true`, e.g. for accounts made before verification was
    /// required) or not (`false`).
    pub email_verified: Option<bool>,
}

/// One row of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// Id (UUIDv7: the rows' order).
    pub id: Uuid,
    /// When, Unix seconds.
    pub at: i64,
    /// The administrator's user id, or `cli`.
    pub actor: String,
    /// What: `user.set_role`, `user.disable`, `user.enable`, `user.verify_email`,
    /// `user.unverify_email`, `user.delete`, `user.end_sessions`.
    pub action: String,
    /// The user acted on.
    pub target: Option<String>,
    /// Where the request came from.
    pub client_ip: Option<String>,
    /// What changed, as JSON text.
    pub details: Option<String>,
}

const SUMMARY_COLUMNS: &str = "id, email, phone, role, created_at, email_verified_at, disabled_at";

#[derive(FromRow)]
struct SummaryRow {
    id: DbId,
    email: Option<String>,
    phone: Option<String>,
    role: String,
    created_at: i64,
    email_verified_at: Option<i64>,
    disabled_at: Option<i64>,
}

impl From<SummaryRow> for UserSummary {
    fn from(row: SummaryRow) -> Self {
        Self {
            id: row.id.into(),
            email: row.email,
            phone: row.phone,
            role: row.role,
            created_at: row.created_at,
            email_verified_at: row.email_verified_at,
            disabled_at: row.disabled_at,
        }
    }
}

#[derive(FromRow)]
struct AuditRow {
    id: DbId,
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    client_ip: Option<String>,
    details: Option<String>,
}

impl Store {
    /// A page of users in id order (see [`UserQuery`]). New accounts get larger ids, so paging
    /// on while accounts are created neither repeats nor skips one.
    pub async fn list_users(&self, query: &UserQuery<'_>) -> Result<Vec<UserSummary>, StoreError> {
        let pattern = format!("%{}%", escape_like(query.contains));
        let after = query.after.unwrap_or(Uuid::nil());
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(format!(
                r"SELECT {SUMMARY_COLUMNS} FROM users
                  WHERE id > $1 AND (email LIKE $2 ESCAPE '\' OR phone LIKE $2 ESCAPE '\')
                  ORDER BY id LIMIT $3"
            )))
            .bind(DbId(after))
            .bind(&pattern)
            .bind(query.limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(UserSummary::from).collect())
    }

    /// One user, as an administrator sees them.
    pub async fn user_summary(&self, id: Uuid) -> Result<Option<UserSummary>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {SUMMARY_COLUMNS} FROM users WHERE id = $1"
            )))
            .bind(DbId(id))
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(UserSummary::from))
    }

    /// Applies `update` to user `id` with one audit row per change, atomically; disabling ends
    /// every session of the user and voids their mailed tokens. `None` when there is no such user; else how many sessions
    /// ended.
    pub async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate<'_>,
        actor: &Actor<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let ended = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let touched = sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
                .bind(actor.now)
                .bind(DbId(id))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                tx.rollback().await.map(|()| None)
            } else {
                let mut ended = 0;
                if let Some(role) = update.role {
                    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                        .bind(role.as_str())
                        .bind(DbId(id))
                        .execute(&mut *tx)
                        .await?;
                    let details = serde_json::json!({ "role": role.as_str() }).to_string();
                    insert_audit_query(actor, "user.set_role", id, Some(details))
                        .execute(&mut *tx)
                        .await?;
                }
                match update.disabled {
                    Some(true) => {
                        sqlx::query(
                            "UPDATE users SET disabled_at = $1
                             WHERE id = $2 AND disabled_at IS NULL",
                        )
                        .bind(actor.now)
                        .bind(DbId(id))
                        .execute(&mut *tx)
                        .await?;
                        let scope = SessionScope::User(id);
                        ended = end_sessions_query(scope, EndReason::Disabled, actor.now)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        // A mailed reset must not set the password an enabling would let in.
                        sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
                            .bind(DbId(id))
                            .execute(&mut *tx)
                            .await?;
                        let details = serde_json::json!({ "sessions_ended": ended }).to_string();
                        insert_audit_query(actor, "user.disable", id, Some(details))
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(false) => {
                        sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                            .bind(DbId(id))
                            .execute(&mut *tx)
                            .await?;
                        insert_audit_query(actor, "user.enable", id, None)
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {}
                }
                if let Some(verified) = update.email_verified {
                    sqlx::query(
                        "UPDATE users SET email_verified_at = CASE
                             WHEN NOT $1 THEN NULL
                             WHEN email_verified_at IS NULL THEN $2
                             ELSE email_verified_at END
                         WHERE id = $3",
                    )
                    .bind(verified)
                    .bind(actor.now)
                    .bind(DbId(id))
                    .execute(&mut *tx)
                    .await?;
                    let action = if verified {
                        "user.verify_email"
                    } else {
                        "user.unverify_email"
                    };
                    insert_audit_query(actor, action, id, None)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await.map(|()| Some(ended))
            }
        })?;
        Ok(ended)
    }

    /// Ends every session of user `id`, with an audit row. `None` when there is no such user.
    pub async fn end_user_sessions(
        &self,
        id: Uuid,
        actor: &Actor<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let ended = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let exists = sqlx::query_scalar::<_, i32>("SELECT 1 FROM users WHERE id = $1")
                .bind(DbId(id))
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                tx.rollback().await.map(|()| None)
            } else {
                let ended = end_sessions_query(SessionScope::User(id), EndReason::Admin, actor.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let details = serde_json::json!({ "sessions_ended": ended }).to_string();
                insert_audit_query(actor, "user.end_sessions", id, Some(details))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map(|()| Some(ended))
            }
        })?;
        Ok(ended)
    }

    /// Deletes user `id` and every row of theirs (sessions, refresh tokens, failed-login
    /// counts, a pending phone code), with an audit row, atomically. Their sessions whose
    /// access tokens may still be accepted (newest `exp` at or after `live_after`) stay on
    /// the revocation list. `false` when there is no such user.
    pub async fn delete_user(
        &self,
        id: Uuid,
        live_after: i64,
        actor: &Actor<'_>,
    ) -> Result<bool, StoreError> {
        // The user's row is locked first, so a racing login waits and then finds no user; the
        // sessions are ended before they are copied, so a racing refresh either lands before
        // (its newer expiry is copied) or finds its session ended.
        let select = self.locking([
            "SELECT email, phone FROM users WHERE id = $1",
            "SELECT email, phone FROM users WHERE id = $1 FOR UPDATE",
        ]);
        let deleted = on_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let user = sqlx::query_as::<_, (Option<String>, Option<String>)>(select)
                .bind(DbId(id))
                .fetch_optional(&mut *tx)
                .await?;
            match user {
                None => tx.rollback().await.map(|()| false),
                Some((email, phone)) => {
                    end_sessions_query(SessionScope::User(id), EndReason::Admin, actor.now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO revoked_sessions (id, access_expires_at)
                         SELECT id, access_expires_at FROM sessions
                         WHERE user_id = $1 AND access_expires_at >= $2
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(DbId(id))
                    .bind(live_after)
                    .execute(&mut *tx)
                    .await?;
                    // Sessions and refresh tokens go with the user (ON DELETE CASCADE).
                    sqlx::query("DELETE FROM users WHERE id = $1")
                        .bind(DbId(id))
                        .execute(&mut *tx)
                        .await?;
                    if let Some(email) = &email {
                        sqlx::query("DELETE FROM login_failures WHERE key = $1")
                            .bind(format!("account:{email}"))
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some(phone) = &phone {
                        sqlx::query("DELETE FROM otp_codes WHERE phone = $1")
                            .bind(phone)
                            .execute(&mut *tx)
                            .await?;
                    }
                    insert_audit_query(actor, "user.delete", id, None)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await.map(|()| true)
                }
            }
        })?;
        Ok(deleted)
    }

    /// A page of the audit trail, newest first: rows before `before` (the last id of the
    /// previous page), at most `limit`.
    pub async fn audit_entries(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let before = before.unwrap_or(Uuid::max());
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, at, actor, action, target, client_ip, details FROM audit_log
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(DbId(before))
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id.into(),
                at: row.at,
                actor: row.actor,
                action: row.action,
                target: row.target,
                client_ip: row.client_ip,
                details: row.details,
            })
            .collect())
    }
}

/// The statement writing one audit row, for the caller's transaction.
fn insert_audit_query<DB>(
    actor: &Actor<'_>,
    action: &'static str,
    target: Uuid,
    details: Option<String>,
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> DbId: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, target, client_ip, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(DbId(Uuid::now_v7()))
    .bind(actor.now)
    .bind(actor.name.to_owned())
    .bind(action)
    .bind(target.to_string())
    .bind(actor.client_ip.map(str::to_owned))
    .bind(details)
}

/// `text` with the `LIKE` wildcards (`%`, `_`) and the escape character (`\`) escaped.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_a_search_match_only_themselves() {
        assert_eq!(escape_like("a_b%c\\d"), r"a\_b\%c\\d");
        assert_eq!(escape_like("alice@example.com"), "alice@example.com");
    }
}
