//! Two-factor state: the user's TOTP factor (its sealed secret, pending or
//! confirmed, and the last accepted time step), hashed recovery codes, and
//! the `mfa_token`s of logins waiting for their second step. Each check
//! that must not pass twice is one conditional `UPDATE`: a step later than
//! the last accepted one, an unused recovery code, an open `mfa_token`.

use super::db::{Db, Dialect};
use super::events::event_values;
use super::row::Value;
use super::users::user_columns;
use super::{
    bytes, int, opt_text, pruned_cte, secs_to_us, text, Client, EventKind, FactorConfirmation,
    MfaFactor, MfaTokenInfo, NewMfaToken, SqlStore,
};
use crate::error::StoreError;

/// Wrong codes after which an `mfa_token` dies.
pub const MFA_TOKEN_MAX_FAILURES: i64 = 5;

fn optional_bytes(value: Option<&[u8]>) -> Value {
    value.map_or(Value::Null, bytes)
}

impl<D: Db> SqlStore<D> {
    pub(super) fn mfa_factor(&self, user_id: &str) -> Result<Option<MfaFactor>, StoreError> {
        let statement = match self.dialect() {
            Dialect::Postgres => {
                "SELECT f.sealed_secret, (f.confirmed_at IS NOT NULL) AS confirmed, f.last_step, \
                   (f.user_id IS NOT NULL) AS found \
                 FROM (SELECT 1) AS one LEFT JOIN mfa_factors f ON f.user_id = $1::text::uuid"
            }
            Dialect::Sqlite => {
                "SELECT f.sealed_secret AS sealed_secret, (f.confirmed_at IS NOT NULL) AS confirmed, \
                   f.last_step AS last_step, (f.user_id IS NOT NULL) AS found \
                 FROM (SELECT 1) AS one LEFT JOIN mfa_factors f ON f.user_id = ?1"
            }
        };
        let row = self.one_row(statement, &[text(user_id)])?;
        if !row.boolean("found")? {
            return Ok(None);
        }
        Ok(Some(MfaFactor {
            sealed_secret: row.opt_bytes("sealed_secret")?.unwrap_or_default(),
            confirmed: row.boolean("confirmed")?,
            last_step: row.opt_int("last_step")?.map(|s| s.max(0) as u64),
        }))
    }

    /// Saves a pending factor, replacing a pending one; `false` (nothing
    /// saved) when the user's factor is confirmed.
    pub(super) fn save_pending_factor(
        &self,
        user_id: &str,
        sealed_secret: &[u8],
    ) -> Result<bool, StoreError> {
        let saved = match self.dialect() {
            Dialect::Postgres => self
                .one_row(
                    "WITH saved AS ( \
                       INSERT INTO mfa_factors AS f (user_id, sealed_secret) \
                       VALUES ($1::text::uuid, $2) \
                       ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                         created_at = now(), last_step = NULL \
                       WHERE f.confirmed_at IS NULL \
                       RETURNING user_id) \
                     SELECT count(*)::int8 AS saved FROM saved",
                    &[text(user_id), bytes(sealed_secret)],
                )?
                .int("saved")?,
            Dialect::Sqlite => self.execute(
                "INSERT INTO mfa_factors (user_id, sealed_secret, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                   created_at = excluded.created_at, last_step = NULL \
                 WHERE mfa_factors.confirmed_at IS NULL",
                &[text(user_id), bytes(sealed_secret), self.now()],
            )? as i64,
        };
        Ok(saved > 0)
    }

    /// Confirms the pending factor with a code of `step`: stores the
    /// recovery codes' digests, revokes every session of the user but the
    /// caller's, records `mfa_enabled`. One statement on both backends (a
    /// writable CTE; SQLite's `mfa_changes` trigger).
    pub(super) fn confirm_factor(&self, c: &FactorConfirmation) -> Result<bool, StoreError> {
        let [user, kind, ip, user_agent, session] = event_values(
            &c.user_id,
            EventKind::MfaEnabled.as_str(),
            &c.client,
            Some(&c.keep_session),
        );
        match self.dialect() {
            Dialect::Postgres => {
                let digests: Vec<String> = c.recovery_digests.iter().map(|d| hex(d)).collect();
                let row = self.one_row(
                    "WITH confirmed AS ( \
                       UPDATE mfa_factors SET confirmed_at = now(), last_step = $6, \
                         sealed_secret = COALESCE($7, sealed_secret) \
                       WHERE user_id = $1::text::uuid AND confirmed_at IS NULL \
                         AND (last_step IS NULL OR last_step < $6) \
                       RETURNING user_id), \
                     old_codes AS ( \
                       DELETE FROM mfa_recovery_codes \
                       WHERE user_id IN (SELECT user_id FROM confirmed)), \
                     codes AS ( \
                       INSERT INTO mfa_recovery_codes (code_hash, user_id) \
                       SELECT decode(h, 'hex'), c.user_id FROM confirmed c, \
                         unnest(string_to_array($8, ',')) AS h), \
                     revoked AS ( \
                       UPDATE sessions SET revoked_at = now(), revoked_reason = 'mfa_enabled' \
                       WHERE user_id IN (SELECT user_id FROM confirmed) AND revoked_at IS NULL \
                         AND id <> $5::text::uuid), \
                     recorded AS ( \
                       INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
                       SELECT user_id, $2, $3, $4, $5::text::uuid FROM confirmed) \
                     SELECT count(*)::int8 AS confirmed FROM confirmed",
                    &[
                        user,
                        kind,
                        ip,
                        user_agent,
                        session,
                        int(c.step),
                        optional_bytes(c.reseal.as_deref()),
                        text(&digests.join(",")),
                    ],
                )?;
                Ok(row.int("confirmed")? > 0)
            }
            Dialect::Sqlite => self.apply_mfa_change_sqlite(
                EventKind::MfaEnabled,
                &c.user_id,
                [
                    int(c.step),
                    optional_bytes(c.reseal.as_deref()),
                    Value::Bytes(c.recovery_digests.concat()),
                    text(&c.keep_session),
                ],
                &c.client,
            ),
        }
    }

    /// Accepts a code of `step` for the confirmed factor if no code of that
    /// step or a later one was accepted before; `reseal` replaces the sealed
    /// secret (opened with an older key) in the same statement.
    pub(super) fn accept_totp_step(
        &self,
        user_id: &str,
        step: u64,
        reseal: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let statement = match self.dialect() {
            Dialect::Postgres => {
                "UPDATE mfa_factors SET last_step = $2, sealed_secret = COALESCE($3, sealed_secret) \
                 WHERE user_id = $1::text::uuid AND confirmed_at IS NOT NULL \
                   AND (last_step IS NULL OR last_step < $2)"
            }
            Dialect::Sqlite => {
                "UPDATE mfa_factors SET last_step = ?2, sealed_secret = coalesce(?3, sealed_secret) \
                 WHERE user_id = ?1 AND confirmed_at IS NOT NULL \
                   AND (last_step IS NULL OR last_step < ?2)"
            }
        };
        let accepted = self.execute(
            statement,
            &[text(user_id), int(step), optional_bytes(reseal)],
        )?;
        Ok(accepted > 0)
    }

    /// Spends an unused recovery code of the user.
    pub(super) fn use_recovery_code(
        &self,
        user_id: &str,
        digest: &[u8],
    ) -> Result<bool, StoreError> {
        let used = match self.dialect() {
            Dialect::Postgres => self.execute(
                "UPDATE mfa_recovery_codes SET used_at = now() \
                 WHERE code_hash = $1 AND user_id = $2::text::uuid AND used_at IS NULL",
                &[bytes(digest), text(user_id)],
            )?,
            Dialect::Sqlite => self.execute(
                "UPDATE mfa_recovery_codes SET used_at = ?3 \
                 WHERE code_hash = ?1 AND user_id = ?2 AND used_at IS NULL",
                &[bytes(digest), text(user_id), self.now()],
            )?,
        };
        Ok(used > 0)
    }

    /// Turns two-factor off: the confirmed factor, its recovery codes and
    /// the user's open `mfa_token`s go; `mfa_disabled` is recorded, in one
    /// statement on both backends. `false` when it was not on.
    pub(super) fn delete_factor(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let [user, kind, ip, user_agent, session] = event_values(
            user_id,
            EventKind::MfaDisabled.as_str(),
            client,
            Some(session_id),
        );
        match self.dialect() {
            Dialect::Postgres => Ok(self
                .one_row(
                    "WITH removed AS ( \
                       DELETE FROM mfa_factors \
                       WHERE user_id = $1::text::uuid AND confirmed_at IS NOT NULL \
                       RETURNING user_id), \
                     codes AS ( \
                       DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM removed)), \
                     tokens AS ( \
                       DELETE FROM mfa_tokens WHERE user_id IN (SELECT user_id FROM removed)), \
                     recorded AS ( \
                       INSERT INTO security_events (user_id, type, ip, user_agent, session_id) \
                       SELECT user_id, $2, $3, $4, $5::text::uuid FROM removed) \
                     SELECT count(*)::int8 AS removed FROM removed",
                    &[user, kind, ip, user_agent, session],
                )?
                .int("removed")?
                > 0),
            Dialect::Sqlite => self.apply_mfa_change_sqlite(
                EventKind::MfaDisabled,
                user_id,
                [Value::Null, Value::Null, Value::Null, text(session_id)],
                client,
            ),
        }
    }

    /// SQLite: files a confirmation or a disabling in `mfa_changes`, whose
    /// trigger applies all of it in that one statement (migrations/sqlite
    /// V7), then takes the row out with the trigger's verdict. `change` is
    /// `[step, reseal, codes, keep_session]`.
    fn apply_mfa_change_sqlite(
        &self,
        kind: EventKind,
        user_id: &str,
        change: [Value; 4],
        client: &Client,
    ) -> Result<bool, StoreError> {
        let [step, reseal, codes, keep_session] = change;
        let filed = self.one_row(
            "INSERT INTO mfa_changes (user_id, kind, step, reseal, codes, keep_session, at, ip, \
               user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            &[
                text(user_id),
                text(kind.as_str()),
                step,
                reseal,
                codes,
                keep_session,
                self.now(),
                opt_text(client.ip.as_deref()),
                opt_text(client.user_agent.as_deref()),
            ],
        )?;
        let applied = self.first_row(
            "DELETE FROM mfa_changes WHERE id = ?1 RETURNING applied",
            &[Value::Int(filed.int("id")?)],
        )?;
        Ok(match applied {
            Some(row) => row.boolean("applied")?,
            None => false,
        })
    }

    /// Files an `mfa_token` (its digest), pruning a bounded batch of tokens
    /// expired a day ago on the way.
    pub(super) fn create_mfa_token(&self, token: &NewMfaToken) -> Result<(), StoreError> {
        let client = &token.client;
        match self.dialect() {
            Dialect::Postgres => self.execute(
                &format!(
                    "WITH {} \
                     INSERT INTO mfa_tokens (token_hash, user_id, expires_at, user_agent, ip) \
                     VALUES ($1, $2::text::uuid, now() + $3::int8 * interval '1 second', $4, $5)",
                    pruned_cte("mfa_tokens", "token_hash")
                ),
                &[
                    bytes(&token.digest),
                    text(&token.user_id),
                    int(token.lifetime_secs),
                    opt_text(client.user_agent.as_deref()),
                    opt_text(client.ip.as_deref()),
                ],
            )?,
            Dialect::Sqlite => {
                self.prune_expired_sqlite("mfa_tokens", "token_hash")?;
                self.execute(
                    "INSERT INTO mfa_tokens (token_hash, user_id, created_at, expires_at, \
                       user_agent, ip) \
                     VALUES (?1, ?2, ?3, ?3 + ?4, ?5, ?6)",
                    &[
                        bytes(&token.digest),
                        text(&token.user_id),
                        self.now(),
                        secs_to_us(token.lifetime_secs),
                        opt_text(client.user_agent.as_deref()),
                        opt_text(client.ip.as_deref()),
                    ],
                )?
            }
        };
        Ok(())
    }

    /// The `mfa_token` of `digest` with its user, whatever its state.
    pub(super) fn find_mfa_token(&self, digest: &[u8]) -> Result<Option<MfaTokenInfo>, StoreError> {
        let row = match self.dialect() {
            Dialect::Postgres => self.one_row(
                &format!(
                    "SELECT (t.token_hash IS NOT NULL) AS found, \
                       COALESCE(t.spent_at IS NULL AND t.expires_at > now() AND t.failures < $2::int8, \
                         false) AS live, {} \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN mfa_tokens t ON t.token_hash = $1 \
                     LEFT JOIN users u ON u.id = t.user_id",
                    user_columns(Dialect::Postgres, "u")
                ),
                &[bytes(digest), Value::Int(MFA_TOKEN_MAX_FAILURES)],
            )?,
            Dialect::Sqlite => self.one_row(
                &format!(
                    "SELECT (t.token_hash IS NOT NULL) AS found, \
                       coalesce(t.spent_at IS NULL AND t.expires_at > ?3 AND t.failures < ?2, 0) \
                         AS live, {} \
                     FROM (SELECT 1) AS one \
                     LEFT JOIN mfa_tokens t ON t.token_hash = ?1 \
                     LEFT JOIN users u ON u.id = t.user_id",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &[bytes(digest), Value::Int(MFA_TOKEN_MAX_FAILURES), self.now()],
            )?,
        };
        if !row.boolean("found")? {
            return Ok(None);
        }
        Ok(Some(MfaTokenInfo {
            user: row.user()?,
            live: row.boolean("live")?,
        }))
    }

    /// Counts a wrong code against the `mfa_token`.
    pub(super) fn count_mfa_token_failure(&self, digest: &[u8]) -> Result<(), StoreError> {
        let statement = match self.dialect() {
            Dialect::Postgres => {
                "UPDATE mfa_tokens SET failures = failures + 1 WHERE token_hash = $1"
            }
            Dialect::Sqlite => {
                "UPDATE mfa_tokens SET failures = failures + 1 WHERE token_hash = ?1"
            }
        };
        self.execute(statement, &[bytes(digest)])?;
        Ok(())
    }

    /// Spends the `mfa_token` if it is not spent or expired: of parallel
    /// tries with one token, one gets `true`. Its wrong-code count is
    /// checked when a try begins (`find_mfa_token`), not here: a right code
    /// accepted while parallel replays of it count as wrong must still win.
    pub(super) fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool, StoreError> {
        let spent = match self.dialect() {
            Dialect::Postgres => self.execute(
                "UPDATE mfa_tokens SET spent_at = now() \
                 WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > now()",
                &[bytes(digest)],
            )?,
            Dialect::Sqlite => self.execute(
                "UPDATE mfa_tokens SET spent_at = ?2 \
                 WHERE token_hash = ?1 AND spent_at IS NULL AND expires_at > ?2",
                &[bytes(digest), self.now()],
            )?,
        };
        Ok(spent > 0)
    }
}

/// Lower-case hex, for a list of digests passed as one text parameter
/// (Spin's Postgres interface binds no `bytea[]`).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
