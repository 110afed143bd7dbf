//! The account flows: one-time tokens (email verification, password
//! reset), credential changes, profile edits and deletion.
//!
//! Each write that touches several tables is one statement, so that a
//! failure half-way cannot leave, say, a new password beside live
//! sessions: a writable CTE on PostgreSQL, a trigger on SQLite
//! (`migrations/sqlite/V3`: SQLite has no writable CTEs and Spin turns on no
//! foreign keys). On SQLite a credential change is filed as a row of
//! `account_changes`, which a trigger applies, and removes, within the
//! INSERT; the PostgreSQL statement below does the same steps in the same
//! order.

use super::db::{Db, Dialect};
use super::row::Value;
use super::users::user_columns;
use super::{
    bytes, int, opt_text, pruned_cte, secs_to_us, secs_until, text, AccountChange, ChangeProof,
    EventKind, MintedToken, NewEvent, ProfileUpdate, SqlStore, TokenRequest, User,
};
use crate::error::StoreError;

const HOUR_US: i64 = 3_600_000_000;

/// `admin_emails` as one text parameter, `,a@x,b@y,`, searched for
/// `,<email>,` (emails hold no comma): one statement for any list length.
fn admin_list(emails: &[String]) -> Value {
    let mut list = String::from(",");
    for email in emails {
        list.push_str(&email.to_lowercase());
        list.push(',');
    }
    Value::Text(list)
}

impl<D: Db> SqlStore<D> {
    /// Mints a one-time token for the user registered as `request.email`;
    /// `None` (and nothing written) when there is no such user, when the
    /// request is for unverified users and this one is verified, or when
    /// `max_per_hour` emails already went to the address in the last hour
    /// (counted on the user's row, `email_sends`, which parallel requests
    /// queue on). Older open tokens of the kind are voided.
    pub(super) fn mint_token(
        &self,
        request: &TokenRequest,
    ) -> Result<Option<MintedToken>, StoreError> {
        match self.dialect() {
            Dialect::Postgres => self.mint_token_postgres(request),
            Dialect::Sqlite => self.mint_token_sqlite(request),
        }
    }

    fn mint_token_postgres(
        &self,
        request: &TokenRequest,
    ) -> Result<Option<MintedToken>, StoreError> {
        let statement = format!(
            "WITH target AS ( \
               UPDATE users u SET email_sends = array_append(ARRAY( \
                   SELECT s FROM unnest(u.email_sends) AS s \
                   WHERE s > now() - interval '1 hour' ORDER BY s), now()) \
               WHERE lower(u.email) = $1 AND (NOT $6::bool OR NOT u.verified) \
                 AND cardinality(ARRAY(SELECT s FROM unnest(u.email_sends) AS s \
                   WHERE s > now() - interval '1 hour')) < $5::int8 \
               RETURNING u.id), \
             {}, \
             voided AS ( \
               UPDATE one_time_tokens SET spent_at = now() \
               WHERE user_id IN (SELECT id FROM target) AND kind = $2 AND spent_at IS NULL), \
             minted AS ( \
               INSERT INTO one_time_tokens (token_hash, user_id, kind, expires_at) \
               SELECT $3, id, $2, now() + $4::int8 * interval '1 second' FROM target \
               RETURNING user_id, expires_at), \
             recorded AS ( \
               INSERT INTO security_events (user_id, type, ip, user_agent) \
               SELECT user_id, $7, $8, $9 FROM minted WHERE $7::text IS NOT NULL) \
             SELECT {}, (extract(epoch from m.expires_at) * 1000000)::int8 AS expires_us \
             FROM (SELECT 1) AS one LEFT JOIN minted m ON true LEFT JOIN users u ON u.id = m.user_id",
            pruned_cte("one_time_tokens", "token_hash"),
            user_columns(Dialect::Postgres, "u")
        );
        let row = self.one_row(
            &statement,
            &[
                text(request.email),
                text(request.kind.as_str()),
                bytes(&request.digest),
                int(request.lifetime_secs),
                int(request.max_per_hour),
                Value::Bool(request.only_unverified),
                opt_text(request.event.map(EventKind::as_str)),
                opt_text(request.client.ip.as_deref()),
                opt_text(request.client.user_agent.as_deref()),
            ],
        )?;
        Ok(match row.user()? {
            Some(user) => Some(MintedToken {
                user,
                expires_at_us: row.int("expires_us")?,
            }),
            None => None,
        })
    }

    /// The send counted on the user's row, the insert (its trigger voids
    /// the older tokens), then the prune, the user and the event.
    fn mint_token_sqlite(&self, request: &TokenRequest) -> Result<Option<MintedToken>, StoreError> {
        let now = self.now_us();
        // The user's row counts the send (parallel requests queue on it).
        let counted = self.first_row(
            "UPDATE users SET email_sends = (SELECT json_group_array(at) FROM ( \
                 SELECT value AS at FROM json_each(email_sends) WHERE value > ?3 - ?5 \
                 UNION ALL SELECT ?3)) \
             WHERE lower(email) = ?1 AND (NOT ?2 OR NOT verified) \
               AND (SELECT count(*) FROM json_each(email_sends) WHERE value > ?3 - ?5) < ?4 \
             RETURNING id",
            &[
                text(request.email),
                Value::Bool(request.only_unverified),
                Value::Int(now),
                int(request.max_per_hour),
                Value::Int(HOUR_US),
            ],
        )?;
        let Some(counted) = counted else {
            return Ok(None);
        };
        let user_id = counted.text("id")?;
        // Its trigger voids the older open tokens of the kind.
        let expires_at_us = self
            .one_row(
                "INSERT INTO one_time_tokens (token_hash, user_id, kind, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4 + ?5) RETURNING expires_at",
                &[
                    bytes(&request.digest),
                    text(&user_id),
                    text(request.kind.as_str()),
                    Value::Int(now),
                    secs_to_us(request.lifetime_secs),
                ],
            )?
            .int("expires_at")?;
        self.prune_expired_sqlite("one_time_tokens", "token_hash")?;
        if let Some(kind) = request.event {
            self.record_events(&[NewEvent {
                user_id: user_id.clone(),
                kind,
                client: request.client.clone(),
                session_id: None,
            }])?;
        }
        Ok(self.user_by_id(&user_id)?.map(|user| MintedToken {
            user,
            expires_at_us,
        }))
    }

    /// Applies a verification, a reset or a password change in one
    /// statement: spends the token (when the proof is one), sets the new
    /// password and verifies the user (a token proves the mailbox), makes an
    /// `admin_emails` address admin (a token only), spends every other open
    /// token and revokes every session but `keep_session` (a new password
    /// only), clears the email's failed logins (a reset only), and records
    /// `change.event`. `None` when the token is not an open one of its kind
    /// (or the user is gone); the user as changed otherwise.
    pub(super) fn apply_account_change(
        &self,
        change: &AccountChange,
    ) -> Result<Option<User>, StoreError> {
        match self.dialect() {
            Dialect::Postgres => self.apply_account_change_postgres(change),
            Dialect::Sqlite => self.apply_account_change_sqlite(change),
        }
    }

    fn apply_account_change_postgres(
        &self,
        change: &AccountChange,
    ) -> Result<Option<User>, StoreError> {
        let (digest, kind, user_id, keep_session) = match &change.proof {
            ChangeProof::Token { digest, kind } => {
                (bytes(digest), text(kind.as_str()), Value::Null, Value::Null)
            }
            ChangeProof::Session {
                user_id,
                session_id,
            } => (Value::Null, Value::Null, text(user_id), text(session_id)),
        };
        let statement = format!(
            "WITH spent AS ( \
               UPDATE one_time_tokens SET spent_at = now() \
               WHERE token_hash = $1::bytea AND kind = $2::text AND spent_at IS NULL \
                 AND expires_at > now() \
               RETURNING user_id), \
             target AS ( \
               SELECT user_id FROM spent \
               UNION ALL SELECT $3::text::uuid WHERE $3::text IS NOT NULL), \
             changed AS ( \
               UPDATE users u SET \
                 password = COALESCE($4::text, u.password), \
                 verified = u.verified OR $1::bytea IS NOT NULL, \
                 role = CASE WHEN $1::bytea IS NOT NULL \
                   AND strpos($6::text, ',' || lower(u.email) || ',') > 0 \
                   THEN 'admin' ELSE u.role END, \
                 updated_at = now() \
               FROM target WHERE u.id = target.user_id \
               RETURNING u.*), \
             voided AS ( \
               UPDATE one_time_tokens SET spent_at = now() \
               WHERE $4::text IS NOT NULL AND user_id IN (SELECT id FROM changed) \
                 AND spent_at IS NULL AND token_hash IS DISTINCT FROM $1::bytea), \
             second_steps AS ( \
               UPDATE mfa_tokens SET spent_at = now() \
               WHERE $4::text IS NOT NULL AND user_id IN (SELECT id FROM changed) \
                 AND spent_at IS NULL), \
             revoked AS ( \
               UPDATE sessions SET revoked_at = now(), revoked_reason = $7 \
               WHERE $4::text IS NOT NULL AND user_id IN (SELECT id FROM changed) \
                 AND revoked_at IS NULL AND id IS DISTINCT FROM $5::text::uuid), \
             unthrottled AS ( \
               DELETE FROM login_throttle \
               WHERE $7 = 'password_reset' AND email IN (SELECT lower(email) FROM changed)), \
             recorded AS ( \
               INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
               SELECT id, $7, $8, $9, $5::text::uuid FROM changed) \
             SELECT {} FROM (SELECT 1) AS one LEFT JOIN changed u ON true",
            user_columns(Dialect::Postgres, "u")
        );
        self.one_row(
            &statement,
            &[
                digest,
                kind,
                user_id,
                opt_text(change.new_password_hash.as_deref()),
                keep_session,
                admin_list(&change.admin_emails),
                text(change.event.as_str()),
                opt_text(change.client.ip.as_deref()),
                opt_text(change.client.user_agent.as_deref()),
            ],
        )?
        .user()
    }

    /// Files the change in `account_changes`; the table's trigger applies it
    /// within this INSERT (see the migration). Then reads the user.
    fn apply_account_change_sqlite(
        &self,
        change: &AccountChange,
    ) -> Result<Option<User>, StoreError> {
        let columns = "INSERT INTO account_changes \
             (user_id, kind, token_hash, password, keep_session, make_admin, at, ip, user_agent) ";
        let mut params = vec![
            text(change.event.as_str()),
            opt_text(change.new_password_hash.as_deref()),
            Value::Int(self.now_us()),
            opt_text(change.client.ip.as_deref()),
            opt_text(change.client.user_agent.as_deref()),
        ];
        let statement = match &change.proof {
            ChangeProof::Token { digest, kind } => {
                params.extend([
                    bytes(digest),
                    text(kind.as_str()),
                    admin_list(&change.admin_emails),
                ]);
                format!(
                    "{columns} SELECT t.user_id, ?1, t.token_hash, ?2, NULL, \
                       instr(?8, ',' || lower(u.email) || ',') > 0, ?3, ?4, ?5 \
                     FROM one_time_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?6 AND t.kind = ?7 AND t.spent_at IS NULL \
                       AND t.expires_at > ?3 \
                     RETURNING user_id"
                )
            }
            ChangeProof::Session {
                user_id,
                session_id,
            } => {
                params.extend([text(user_id), text(session_id)]);
                format!(
                    "{columns} SELECT u.id, ?1, NULL, ?2, ?7, 0, ?3, ?4, ?5 \
                     FROM users u WHERE u.id = ?6 \
                     RETURNING user_id"
                )
            }
        };
        match self.first_row(&statement, &params)? {
            Some(row) => self.user_by_id(&row.text("user_id")?),
            None => Ok(None),
        }
    }

    pub(super) fn user_by_id(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let statement = match self.dialect() {
            Dialect::Postgres => format!(
                "SELECT {} FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = $1::text::uuid",
                user_columns(Dialect::Postgres, "u")
            ),
            Dialect::Sqlite => format!(
                "SELECT {} FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = ?1",
                user_columns(Dialect::Sqlite, "u")
            ),
        };
        self.one_row(&statement, &[text(user_id)])?.user()
    }

    /// Sets the fields given; `updated_at` always moves forward.
    pub(super) fn update_profile(
        &self,
        user_id: &str,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        let params = [
            text(user_id),
            opt_text(update.name.as_deref()),
            Value::Bool(update.photo.is_some()),
            opt_text(update.photo.as_ref().and_then(|p| p.as_deref())),
        ];
        match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    &format!(
                        "WITH changed AS ( \
                           UPDATE users SET name = COALESCE($2::text, name), \
                             photo = CASE WHEN $3::bool THEN $4::text ELSE photo END, \
                             updated_at = greatest(now(), updated_at + interval '1 microsecond') \
                           WHERE id = $1::text::uuid RETURNING *) \
                         SELECT {} FROM (SELECT 1) AS one LEFT JOIN changed u ON true",
                        user_columns(Dialect::Postgres, "u")
                    ),
                    &params,
                )?
                .user(),
            Dialect::Sqlite => {
                let mut params = params.to_vec();
                params.push(self.now());
                self.first_row(
                    &format!(
                        "UPDATE users SET name = COALESCE(?2, name), \
                           photo = CASE WHEN ?3 THEN ?4 ELSE photo END, \
                           updated_at = max(?5, updated_at + 1) \
                         WHERE id = ?1 RETURNING {}",
                        user_columns(Dialect::Sqlite, "")
                    ),
                    &params,
                )?
                .map_or(Ok(None), |row| row.user())
            }
        }
    }

    /// Deletes the user with its one-time tokens, events and two-factor
    /// rows (factor, recovery codes, `mfa_token`s), and revokes
    /// its sessions (kept, so that their refresh tokens are known to belong
    /// to a deleted user). `false` when there was no such user.
    pub(super) fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let deleted = match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    "WITH gone AS (DELETE FROM users WHERE id = $1::text::uuid RETURNING id), \
                     revoked AS ( \
                       UPDATE sessions SET revoked_at = now(), revoked_reason = 'account_deleted' \
                       WHERE user_id IN (SELECT id FROM gone) AND revoked_at IS NULL), \
                     tokens AS (DELETE FROM one_time_tokens WHERE user_id IN (SELECT id FROM gone)), \
                     events AS (DELETE FROM security_events WHERE user_id IN (SELECT id FROM gone)), \
                     factors AS (DELETE FROM mfa_factors WHERE user_id IN (SELECT id FROM gone)), \
                     codes AS ( \
                       DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT id FROM gone)), \
                     second_steps AS (DELETE FROM mfa_tokens WHERE user_id IN (SELECT id FROM gone)) \
                     SELECT count(*)::int8 AS deleted FROM gone",
                    &[text(user_id)],
                )?
                .int("deleted")?,
            // The trigger `users_delete_dependents` does the rest.
            Dialect::Sqlite => self.execute("DELETE FROM users WHERE id = ?1", &[text(user_id)])?
                as i64,
        };
        Ok(deleted > 0)
    }

    /// Whole seconds left on the email's login lock (rounded up), without
    /// counting an attempt; `None` when it is not locked.
    pub(super) fn login_lock(&self, email: &str) -> Result<Option<u64>, StoreError> {
        let secs = match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    "SELECT ceil(extract(epoch from (t.locked_until - now())))::int8 AS locked_for \
                     FROM (SELECT 1) AS one LEFT JOIN login_throttle t \
                       ON t.email = $1 AND t.locked_until > now()",
                    &[text(email)],
                )?
                .opt_int("locked_for")?,
            Dialect::Sqlite => {
                let now = self.now_us();
                self.one_row(
                    "SELECT t.locked_until FROM (SELECT 1) AS one LEFT JOIN login_throttle t \
                       ON t.email = ?1 AND t.locked_until > ?2",
                    &[text(email), Value::Int(now)],
                )?
                .opt_int("locked_until")?
                .map(|until| secs_until(until, now))
            }
        };
        Ok(secs.map(|s| s.max(1) as u64))
    }
}
