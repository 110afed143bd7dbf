//! What the admin routes need: the user listing by keyset pagination on
//! `(created_at, id)`, one user with its live-session count, an admin's
//! change of `verified`, `role` and `disabled`, and logging a user out
//! everywhere. Each change records its event on the affected user.

use super::db::{Db, Dialect};
use super::events::event_values;
use super::row::Value;
use super::users::user_columns;
use super::{
    opt_text, text, AdminChange, AdminUserInfo, Client, EventKind, NewEvent, SqlStore, User,
    UserPage,
};
use crate::error::StoreError;

/// Whether the user `u` has a confirmed TOTP factor (both dialects).
const MFA_ENABLED: &str = "EXISTS (SELECT 1 FROM mfa_factors f WHERE f.user_id = u.id \
                             AND f.confirmed_at IS NOT NULL) AS mfa_enabled";

impl<D: Db> SqlStore<D> {
    /// Up to `page.limit` users after `page.after`, oldest first, whose
    /// email or name contains `page.query` (ASCII case folded). Postgres
    /// answers one row of NULLs for an empty page (a one-row source).
    pub(super) fn list_users(&self, page: &UserPage) -> Result<Vec<User>, StoreError> {
        let (after_us, after_id) = match &page.after {
            Some((us, id)) => (Value::Int(*us), text(id)),
            None => (Value::Null, Value::Null),
        };
        let params = [
            opt_text(page.query),
            after_us,
            after_id,
            Value::Int(i64::from(page.limit)),
        ];
        let rows = match self.dialect() {
            Dialect::Postgres => self.query(
                &format!(
                    "SELECT {} FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                       SELECT * FROM users \
                       WHERE ($1::text IS NULL OR strpos(lower(email), lower($1::text)) > 0 \
                              OR strpos(lower(name), lower($1::text)) > 0) \
                         AND ($2::int8 IS NULL OR (created_at, id) > \
                              (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', \
                               $3::text::uuid)) \
                       ORDER BY created_at, id LIMIT $4::int8) AS u ON true \
                     ORDER BY u.created_at, u.id",
                    user_columns(Dialect::Postgres, "u")
                ),
                &params,
            )?,
            Dialect::Sqlite => self.query(
                &format!(
                    "SELECT {} FROM users u \
                     WHERE (?1 IS NULL OR instr(lower(u.email), lower(?1)) > 0 \
                            OR instr(lower(u.name), lower(?1)) > 0) \
                       AND (?2 IS NULL OR u.created_at > ?2 \
                            OR (u.created_at = ?2 AND u.id > ?3)) \
                     ORDER BY u.created_at, u.id LIMIT ?4",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &params,
            )?,
        };
        let mut users = Vec::new();
        for row in rows.into_rows() {
            if let Some(user) = row.user()? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// The user and how many live sessions it has (not revoked, before the
    /// absolute timeout).
    pub(super) fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserInfo>, StoreError> {
        let row = match self.dialect() {
            Dialect::Postgres => self.one_row(
                &format!(
                    "SELECT {}, (SELECT count(*) FROM sessions s WHERE s.user_id = u.id \
                       AND s.revoked_at IS NULL AND s.absolute_expires_at > now())::int8 \
                       AS live_sessions, {MFA_ENABLED} \
                     FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = $1::text::uuid",
                    user_columns(Dialect::Postgres, "u")
                ),
                &[text(user_id)],
            )?,
            Dialect::Sqlite => self.one_row(
                &format!(
                    "SELECT {}, (SELECT count(*) FROM sessions s WHERE s.user_id = u.id \
                       AND s.revoked_at IS NULL AND s.absolute_expires_at > ?2) AS live_sessions, \
                       {MFA_ENABLED} \
                     FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = ?1",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &[text(user_id), self.now()],
            )?,
        };
        let Some(user) = row.user()? else {
            return Ok(None);
        };
        Ok(Some(AdminUserInfo {
            user,
            mfa_enabled: row.boolean("mfa_enabled")?,
            live_sessions: row.opt_int("live_sessions")?.unwrap_or(0),
        }))
    }

    /// Applies an admin's change; disabling also revokes every session and
    /// ends every open `mfa_token` of the user. Records `admin_update`.
    /// `None` when there is no such user.
    pub(super) fn admin_update_user(
        &self,
        user_id: &str,
        change: &AdminChange,
        client: &Client,
    ) -> Result<Option<User>, StoreError> {
        let [user, kind, ip, user_agent, _] =
            event_values(user_id, EventKind::AdminUpdate.as_str(), client, None);
        let verified = change.verified.map_or(Value::Null, Value::Bool);
        let disabled = change.disabled.map_or(Value::Null, Value::Bool);
        let role = opt_text(change.role.as_deref());
        match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    &format!(
                        "WITH changed AS ( \
                           UPDATE users SET verified = COALESCE($5::bool, verified), \
                             role = COALESCE($6::text, role), \
                             disabled = COALESCE($7::bool, disabled), \
                             updated_at = greatest(now(), updated_at + interval '1 microsecond') \
                           WHERE id = $1::text::uuid RETURNING *), \
                         revoked AS ( \
                           UPDATE sessions SET revoked_at = now(), revoked_reason = 'disabled' \
                           WHERE $7::bool AND user_id IN (SELECT id FROM changed) \
                             AND revoked_at IS NULL), \
                         second_steps AS ( \
                           UPDATE mfa_tokens SET spent_at = now() \
                           WHERE $7::bool AND user_id IN (SELECT id FROM changed) \
                             AND spent_at IS NULL), \
                         recorded AS ( \
                           INSERT INTO security_events (user_id, type, ip, user_agent) \
                           SELECT id, $2, $3, $4 FROM changed) \
                         SELECT {} FROM (SELECT 1) AS one LEFT JOIN changed u ON true",
                        user_columns(Dialect::Postgres, "u")
                    ),
                    &[user, kind, ip, user_agent, verified, role, disabled],
                )?
                .user(),
            Dialect::Sqlite => {
                let now = self.now();
                let changed = self.first_row(
                    &format!(
                        "UPDATE users SET verified = coalesce(?2, verified), \
                           role = coalesce(?3, role), disabled = coalesce(?4, disabled), \
                           updated_at = max(?5, updated_at + 1) \
                         WHERE id = ?1 RETURNING {}",
                        user_columns(Dialect::Sqlite, "")
                    ),
                    &[text(user_id), verified, role, disabled, now.clone()],
                )?;
                let Some(updated) = changed.map_or(Ok(None), |row| row.user())? else {
                    return Ok(None);
                };
                if change.disabled == Some(true) {
                    self.execute(
                        "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'disabled' \
                         WHERE user_id = ?1 AND revoked_at IS NULL",
                        &[text(user_id), now.clone()],
                    )?;
                    self.execute(
                        "UPDATE mfa_tokens SET spent_at = ?2 WHERE user_id = ?1 AND spent_at IS NULL",
                        &[text(user_id), now],
                    )?;
                }
                self.record_events(&[admin_event(user_id, EventKind::AdminUpdate, client)])?;
                Ok(Some(updated))
            }
        }
    }

    /// Revokes every session of the user, with one `admin_logout_all`
    /// event; `false` when there is no such user.
    pub(super) fn admin_logout_all(
        &self,
        user_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let [user, kind, ip, user_agent, _] =
            event_values(user_id, EventKind::AdminLogoutAll.as_str(), client, None);
        match self.dialect() {
            Dialect::Postgres => Ok(self
                .one_row(
                    "WITH target AS (SELECT id FROM users WHERE id = $1::text::uuid), \
                     revoked AS ( \
                       UPDATE sessions SET revoked_at = now(), revoked_reason = 'admin_logout_all' \
                       WHERE user_id IN (SELECT id FROM target) AND revoked_at IS NULL), \
                     recorded AS ( \
                       INSERT INTO security_events (user_id, type, ip, user_agent) \
                       SELECT id, $2, $3, $4 FROM target) \
                     SELECT count(*)::int8 AS found FROM target",
                    &[user, kind, ip, user_agent],
                )?
                .int("found")?
                > 0),
            Dialect::Sqlite => {
                let found = self
                    .one_row(
                        "SELECT count(*) AS found FROM users WHERE id = ?1",
                        &[text(user_id)],
                    )?
                    .int("found")?;
                if found == 0 {
                    return Ok(false);
                }
                self.execute(
                    "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'admin_logout_all' \
                     WHERE user_id = ?1 AND revoked_at IS NULL",
                    &[text(user_id), self.now()],
                )?;
                self.record_events(&[admin_event(user_id, EventKind::AdminLogoutAll, client)])?;
                Ok(true)
            }
        }
    }
}

/// An admin action's event on the affected user (no session of its own:
/// the admin's session is another user's).
fn admin_event(user_id: &str, kind: EventKind, client: &Client) -> NewEvent {
    NewEvent {
        user_id: user_id.to_owned(),
        kind,
        client: client.clone(),
        session_id: None,
    }
}
