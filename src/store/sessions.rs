//! Sessions: one row per login holding the SHA-256 of its current refresh
//! token; rotation, reuse detection (rotated-away tokens are kept in
//! `retired_refresh_tokens`) and revocation. Every write that must be
//! atomic is one statement: on Postgres a writable CTE, on SQLite one
//! `UPDATE` whose trigger (migrations/sqlite) files the retired token.

use super::db::{Db, Dialect};
use super::events::{event_values, json_rows};
use super::row::{Row, Value};
use super::users::user_columns;
use super::{
    bytes, int, opt_text, pruned_cte, secs_to_us, secs_until, text, Client, EventKind,
    KnownRefreshToken, NewEvent, NewSession, RevokeReason, Rotation, SessionInfo, SqlStore,
    UserSession, PRUNE_BATCH,
};
use crate::error::StoreError;

impl<D: Db> SqlStore<D> {
    /// Starts a session and records its `login` event in the same
    /// statement (Postgres; right after it on SQLite). Also prunes a
    /// bounded batch of sessions that expired a day ago (with their retired
    /// tokens) and of events past their retention, so neither table grows
    /// without bound.
    pub(super) fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let client = &session.client;
        match self.dialect() {
            Dialect::Postgres => self.execute(
                &format!(
                    "WITH {}, \
                     pruned_events AS ( \
                       DELETE FROM security_events WHERE id IN ( \
                         SELECT id FROM security_events \
                         WHERE at < now() - $8::int8 * interval '1 second' LIMIT {PRUNE_BATCH})), \
                     started AS ( \
                       INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, \
                         absolute_expires_at, user_agent, ip, amr) \
                       VALUES ($1::text::uuid, $2::text::uuid, $3, \
                         now() + $4::int8 * interval '1 second', \
                         now() + $5::int8 * interval '1 second', $6, $7, $9) \
                       RETURNING id, user_id) \
                     INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
                     SELECT user_id, 'login', $7, $6, id FROM started",
                    pruned_cte("sessions", "id")
                ),
                &[
                    text(&session.id),
                    text(&session.user_id),
                    bytes(&session.refresh_digest),
                    int(session.refresh_lifetime_secs),
                    int(session.absolute_timeout_secs),
                    opt_text(client.user_agent.as_deref()),
                    opt_text(client.ip.as_deref()),
                    int(session.event_retention_secs),
                    text(&session.amr),
                ],
            )?,
            Dialect::Sqlite => {
                self.prune_expired_sqlite("sessions", "id")?;
                self.execute(
                    "DELETE FROM security_events WHERE id IN ( \
                       SELECT id FROM security_events WHERE at < ?1 - ?2 LIMIT ?3)",
                    &[
                        self.now(),
                        secs_to_us(session.event_retention_secs),
                        Value::Int(PRUNE_BATCH),
                    ],
                )?;
                self.execute(
                    "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, \
                       created_at, last_used_at, expires_at, absolute_expires_at, user_agent, ip, \
                       amr) \
                     VALUES (?1, ?2, ?3, 0, ?4, ?4, ?4 + ?5, ?4 + ?6, ?7, ?8, ?9)",
                    &[
                        text(&session.id),
                        text(&session.user_id),
                        bytes(&session.refresh_digest),
                        self.now(),
                        secs_to_us(session.refresh_lifetime_secs),
                        secs_to_us(session.absolute_timeout_secs),
                        opt_text(client.user_agent.as_deref()),
                        opt_text(client.ip.as_deref()),
                        text(&session.amr),
                    ],
                )?;
                self.record_events(&[NewEvent {
                    user_id: session.user_id.clone(),
                    kind: EventKind::Login,
                    client: client.clone(),
                    session_id: Some(session.id.clone()),
                }])?;
                1
            }
        };
        Ok(())
    }

    /// The user by id, and whether `session_id` is one of its live sessions.
    pub(super) fn user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserSession, StoreError> {
        let row = match self.dialect() {
            Dialect::Postgres => self.one_row(
                &format!(
                    "SELECT {}, (s.id IS NOT NULL) AS session_active \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN users u ON u.id = $1::text::uuid \
                     LEFT JOIN sessions s ON s.id = $2::text::uuid AND s.user_id = $1::text::uuid \
                       AND s.revoked_at IS NULL AND s.absolute_expires_at > now()",
                    user_columns(Dialect::Postgres, "u")
                ),
                &[text(user_id), text(session_id)],
            )?,
            Dialect::Sqlite => self.one_row(
                &format!(
                    "SELECT {}, (s.id IS NOT NULL) AS session_active \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN users u ON u.id = ?1 \
                     LEFT JOIN sessions s ON s.id = ?2 AND s.user_id = ?1 \
                       AND s.revoked_at IS NULL AND s.absolute_expires_at > ?3",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &[text(user_id), text(session_id), self.now()],
            )?,
        };
        Ok(UserSession {
            user: row.user()?,
            session_active: row.boolean("session_active")?,
        })
    }

    /// Replaces the current refresh token `old` by `new` in one statement:
    /// of concurrent rotations of one token the first changes the hash (its
    /// row lock makes the others re-check and match nothing), and the old
    /// hash is filed as retired in the same statement.
    pub(super) fn rotate_refresh_token(
        &self,
        old: &[u8],
        new: &[u8],
        lifetime_secs: u64,
    ) -> Result<Option<Rotation>, StoreError> {
        match self.dialect() {
            Dialect::Postgres => {
                let row = self.one_row(
                    &format!(
                        "WITH rotated AS ( \
                           UPDATE sessions SET refresh_token_hash = $2, \
                             generation = generation + 1, last_used_at = now(), \
                             expires_at = LEAST(now() + $3::int8 * interval '1 second', \
                                                absolute_expires_at) \
                           WHERE refresh_token_hash = $1 AND revoked_at IS NULL \
                             AND expires_at > now() AND absolute_expires_at > now() \
                             AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id \
                                         AND users.verified AND NOT users.disabled) \
                           RETURNING id, user_id, expires_at, amr), \
                         retired AS ( \
                           INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) \
                           SELECT $1, id, now() FROM rotated) \
                         SELECT r.id::text AS session_id, r.user_id::text AS session_user_id, \
                           r.amr AS session_amr, \
                           ceil(extract(epoch from (r.expires_at - now())))::int8 \
                             AS refresh_lifetime, {} \
                         FROM (SELECT 1) AS one \
                         LEFT JOIN rotated r ON true \
                         LEFT JOIN users u ON u.id = r.user_id",
                        user_columns(Dialect::Postgres, "u")
                    ),
                    &[bytes(old), bytes(new), int(lifetime_secs)],
                )?;
                let Some(session_id) = row.opt_text("session_id")? else {
                    return Ok(None);
                };
                Ok(Some(Rotation {
                    session_id,
                    user_id: row.text("session_user_id")?,
                    user: row.user()?,
                    refresh_lifetime_secs: row.int("refresh_lifetime")?,
                    amr: row.text("session_amr")?,
                }))
            }
            Dialect::Sqlite => {
                let now = self.now_us();
                let rotated = self.first_row(
                    "UPDATE sessions SET refresh_token_hash = ?2, generation = generation + 1, \
                       last_used_at = ?4, expires_at = min(?4 + ?3, absolute_expires_at) \
                     WHERE refresh_token_hash = ?1 AND revoked_at IS NULL \
                       AND expires_at > ?4 AND absolute_expires_at > ?4 \
                       AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id \
                                   AND users.verified AND NOT users.disabled) \
                     RETURNING id, user_id, expires_at, amr",
                    &[
                        bytes(old),
                        bytes(new),
                        secs_to_us(lifetime_secs),
                        Value::Int(now),
                    ],
                )?;
                let Some(rotated) = rotated else {
                    return Ok(None);
                };
                let user_id = rotated.text("user_id")?;
                let user = self
                    .one_row(
                        &format!(
                            "SELECT {} FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = ?1",
                            user_columns(Dialect::Sqlite, "u")
                        ),
                        &[text(&user_id)],
                    )?
                    .user()?;
                Ok(Some(Rotation {
                    session_id: rotated.text("id")?,
                    user,
                    user_id,
                    refresh_lifetime_secs: secs_until(rotated.int("expires_at")?, now),
                    amr: rotated.text("amr")?,
                }))
            }
        }
    }

    /// Looks up a refresh token that could not be rotated: a retired token
    /// names its session in `retired_refresh_tokens`; a current one is its
    /// session's `refresh_token_hash`.
    pub(super) fn find_refresh_token(
        &self,
        digest: &[u8],
    ) -> Result<Option<KnownRefreshToken>, StoreError> {
        let row = match self.dialect() {
            Dialect::Postgres => self.one_row(
                &format!(
                    "SELECT s.id::text AS session_id, s.user_id::text AS session_user_id, \
                       s.amr AS session_amr, \
                       (extract(epoch from (now() - t.retired_at)) * 1000)::int8 AS retired_ms_ago, \
                       (s.revoked_at IS NULL AND s.absolute_expires_at > now()) AS session_active, \
                       {} \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN retired_refresh_tokens t ON t.token_hash = $1 \
                     LEFT JOIN sessions s ON s.id = COALESCE(t.session_id, \
                       (SELECT c.id FROM sessions c WHERE c.refresh_token_hash = $1)) \
                     LEFT JOIN users u ON u.id = s.user_id",
                    user_columns(Dialect::Postgres, "u")
                ),
                &[bytes(digest)],
            )?,
            // The age is rounded to milliseconds as Postgres does, and never
            // negative: with instants from several instances' clocks, one
            // running behind must not turn a reuse into one inside the
            // grace period.
            Dialect::Sqlite => self.one_row(
                &format!(
                    "SELECT s.id AS session_id, s.user_id AS session_user_id, s.amr AS session_amr, \
                       (max(0, ?2 - t.retired_at) + 500) / 1000 AS retired_ms_ago, \
                       (s.revoked_at IS NULL AND s.absolute_expires_at > ?2) AS session_active, {} \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN retired_refresh_tokens t ON t.token_hash = ?1 \
                     LEFT JOIN sessions s ON s.id = coalesce(t.session_id, \
                       (SELECT c.id FROM sessions c WHERE c.refresh_token_hash = ?1)) \
                     LEFT JOIN users u ON u.id = s.user_id",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &[bytes(digest), self.now()],
            )?,
        };
        known_refresh_token(&row)
    }

    /// Revokes a session already identified by one of its tokens (reuse
    /// detection), whoever owns it and whatever its state.
    pub(super) fn revoke_known_session(
        &self,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<(), StoreError> {
        self.revoke_where(
            "id = $1::text::uuid",
            "id = ?1",
            vec![text(session_id)],
            reason,
            client,
        )?;
        Ok(())
    }

    /// Revokes `session_id` only if it is a live session of `user_id` (the
    /// one an access token names); `false` if it was not.
    pub(super) fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let revoked = self.revoke_where(
            "id = $1::text::uuid AND user_id = $2::text::uuid AND absolute_expires_at > now()",
            "id = ?1 AND user_id = ?2 AND absolute_expires_at > {now}",
            vec![text(session_id), text(user_id)],
            reason,
            client,
        )?;
        Ok(revoked > 0)
    }

    /// Revokes the live session whose current refresh token is `digest`.
    pub(super) fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let revoked = self.revoke_where(
            "refresh_token_hash = $1 AND expires_at > now()",
            "refresh_token_hash = ?1 AND expires_at > {now}",
            vec![bytes(digest)],
            reason,
            client,
        )?;
        Ok(revoked > 0)
    }

    /// Revokes the sessions a condition selects (its keys are `$1`/`?1`
    /// on; `{now}` is SQLite's instant) that are not revoked yet, recording
    /// one event of the reason per session revoked: in the same statement
    /// on Postgres, right after it on SQLite. The number revoked.
    fn revoke_where(
        &self,
        postgres_condition: &str,
        sqlite_condition: &str,
        keys: Vec<Value>,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<i64, StoreError> {
        let n = keys.len();
        let mut params = keys;
        match self.dialect() {
            Dialect::Postgres => {
                let [_, kind, ip, user_agent, _] =
                    event_values("", reason.event().as_str(), client, None);
                params.extend([text(reason.as_str()), kind, ip, user_agent]);
                let [r, k, i, u] = [n + 1, n + 2, n + 3, n + 4];
                self.one_row(
                    &format!(
                        "WITH revoked AS ( \
                           UPDATE sessions SET revoked_at = now(), revoked_reason = ${r} \
                           WHERE {postgres_condition} AND revoked_at IS NULL \
                           RETURNING id, user_id), \
                         recorded AS ( \
                           INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
                           SELECT user_id, ${k}, ${i}, ${u}, id FROM revoked) \
                         SELECT count(*)::int8 AS revoked FROM revoked"
                    ),
                    &params,
                )?
                .int("revoked")
            }
            Dialect::Sqlite => {
                params.extend([text(reason.as_str()), self.now()]);
                let (r, now) = (n + 1, n + 2);
                let condition = sqlite_condition.replace("{now}", &format!("?{now}"));
                let revoked = self.query(
                    &format!(
                        "UPDATE sessions SET revoked_at = ?{now}, revoked_reason = ?{r} \
                         WHERE {condition} AND revoked_at IS NULL \
                         RETURNING id, user_id"
                    ),
                    &params,
                )?;
                let events = revoked
                    .into_rows()
                    .iter()
                    .map(|row| {
                        Ok(NewEvent {
                            user_id: row.text("user_id")?,
                            kind: reason.event(),
                            client: client.clone(),
                            session_id: Some(row.text("id")?),
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                self.record_events(&events)?;
                Ok(events.len() as i64)
            }
        }
    }

    /// Revokes every session of the user if `session_id` (the caller's) is
    /// live, with one `logout_all` event; `false` (nothing revoked) means
    /// the caller was not logged in.
    pub(super) fn revoke_all_sessions(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let reason = text(RevokeReason::LogoutAll.as_str());
        let [user, kind, ip, user_agent, session] = event_values(
            user_id,
            EventKind::LogoutAll.as_str(),
            client,
            Some(session_id),
        );
        let revoked = match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    "WITH revoked AS ( \
                       UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
                       WHERE user_id = $1::text::uuid AND revoked_at IS NULL \
                         AND EXISTS (SELECT 1 FROM sessions c WHERE c.id = $2::text::uuid \
                           AND c.user_id = $1::text::uuid AND c.revoked_at IS NULL \
                           AND c.absolute_expires_at > now()) \
                       RETURNING id), \
                     recorded AS ( \
                       INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
                       SELECT $1::text::uuid, $4, $5, $6, $2::text::uuid \
                       WHERE EXISTS (SELECT 1 FROM revoked)) \
                     SELECT count(*)::int8 AS revoked FROM revoked",
                    &[user, session, reason, kind, ip, user_agent],
                )?
                .int("revoked")?,
            Dialect::Sqlite => {
                let revoked = self.execute(
                    "UPDATE sessions SET revoked_at = ?4, revoked_reason = ?3 \
                     WHERE user_id = ?1 AND revoked_at IS NULL \
                       AND EXISTS (SELECT 1 FROM sessions c WHERE c.id = ?2 AND c.user_id = ?1 \
                         AND c.revoked_at IS NULL AND c.absolute_expires_at > ?4)",
                    &[user, session, reason, self.now()],
                )?;
                if revoked > 0 {
                    self.record_events(&[NewEvent {
                        user_id: user_id.to_owned(),
                        kind: EventKind::LogoutAll,
                        client: client.clone(),
                        session_id: Some(session_id.to_owned()),
                    }])?;
                }
                revoked as i64
            }
        };
        Ok(revoked > 0)
    }

    /// The user's live sessions, newest first (`id` breaks ties).
    pub(super) fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = match self.dialect() {
            Dialect::Postgres => self.query(
                "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id::text, \
                   'created_at_us', (extract(epoch from created_at) * 1000000)::int8, \
                   'last_used_at_us', (extract(epoch from last_used_at) * 1000000)::int8, \
                   'expires_at_us', (extract(epoch from expires_at) * 1000000)::int8, \
                   'user_agent', user_agent, 'ip', ip) \
                   ORDER BY created_at DESC, id DESC), '[]'::jsonb)::text AS sessions \
                 FROM sessions WHERE user_id = $1::text::uuid AND revoked_at IS NULL \
                   AND absolute_expires_at > now()",
                &[text(user_id)],
            )?,
            Dialect::Sqlite => self.query(
                "SELECT coalesce(json_group_array(json_object('id', id, \
                   'created_at_us', created_at, 'last_used_at_us', last_used_at, \
                   'expires_at_us', expires_at, 'user_agent', user_agent, 'ip', ip)), '[]') \
                   AS sessions \
                 FROM (SELECT * FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL \
                   AND absolute_expires_at > ?2 ORDER BY created_at DESC, id DESC)",
                &[text(user_id), self.now()],
            )?,
        };
        Ok(json_rows::<SessionJson>(rows, "sessions")?
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id,
                created_at_us: s.created_at_us,
                last_used_at_us: s.last_used_at_us,
                expires_at_us: s.expires_at_us,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect())
    }
}

#[derive(serde::Deserialize)]
struct SessionJson {
    id: String,
    created_at_us: i64,
    last_used_at_us: i64,
    expires_at_us: i64,
    user_agent: Option<String>,
    ip: Option<String>,
}

fn known_refresh_token(row: &Row) -> Result<Option<KnownRefreshToken>, StoreError> {
    let Some(session_id) = row.opt_text("session_id")? else {
        return Ok(None);
    };
    Ok(Some(KnownRefreshToken {
        session_id,
        user_id: row.text("session_user_id")?,
        user: row.user()?,
        retired_ms_ago: row.opt_int("retired_ms_ago")?,
        session_active: row.boolean("session_active")?,
        amr: row.text("session_amr")?,
    }))
}
