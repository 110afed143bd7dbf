//! The storage port over Spin's `spin:postgres/postgres@4.0.0`.
//!
//! Real Spin 4.0.x never answers a `query` whose result has zero rows
//! (SPIN-COMPAT.md), so every `query` here returns exactly one row: single
//! lookups start from a one-row source (`FROM (SELECT 1) AS one LEFT JOIN
//! ...`), writes that return data are wrapped in a CTE joined to it, and
//! writes that return nothing use `execute`. Instants are read as epoch
//! numbers (Spin cannot read `timestamptz`), never as timestamps.

use std::cell::OnceCell;

use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError, RowSet};

use super::row::{Row, Value};
use super::{
    KnownRefreshToken, LoginAttempt, NewSession, NewUser, RevokeReason, Rotation, Store, Throttle,
    User, UserSession,
};
use crate::error::StoreError;

/// The user columns every query that returns a user selects, in this order,
/// from a `users` row aliased `u`.
const USER_COLUMNS: &str = "u.id::text AS user_id, u.name, u.email, u.password, u.photo, u.role, \
     u.verified, (extract(epoch from u.created_at) * 1000000)::int8 AS created_us, \
     (extract(epoch from u.updated_at) * 1000000)::int8 AS updated_us";

/// A connection opened on first use, so routes that need no database
/// (health, JWKS) never open one.
pub struct PostgresStore {
    address: String,
    connection: OnceCell<Connection>,
}

impl PostgresStore {
    pub fn new(address: String) -> Self {
        PostgresStore {
            address,
            connection: OnceCell::new(),
        }
    }

    fn connection(&self) -> Result<&Connection, StoreError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open(&self.address).map_err(describe)?;
        Ok(self.connection.get_or_init(|| connection))
    }

    /// A query that returns exactly one row by construction.
    fn query_one(&self, statement: &str, params: &[ParameterValue]) -> Result<Row, StoreError> {
        let rows = self
            .connection()?
            .query(statement, params)
            .map_err(describe)?;
        single_row(rows)
    }

    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, StoreError> {
        self.connection()?
            .execute(statement, params)
            .map_err(describe)
    }
}

fn text(value: &str) -> ParameterValue {
    ParameterValue::Str(value.to_owned())
}

/// Ids go over the wire as `uuid` values: the host binds a string
/// parameter only to text columns.
fn uuid(value: &str) -> ParameterValue {
    ParameterValue::Uuid(value.to_owned())
}

fn bytes(value: &[u8]) -> ParameterValue {
    ParameterValue::Binary(value.to_vec())
}

fn int(value: u64) -> ParameterValue {
    ParameterValue::Int64(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Maps a Postgres error for the domain: unique violations are conflicts,
/// everything else makes the service unavailable (the log gets the SQLSTATE
/// and message, never the statement or its parameters).
fn describe(error: PgError) -> StoreError {
    match error {
        PgError::QueryFailed(QueryError::DbError(db)) if db.code == "23505" => StoreError::Conflict,
        PgError::QueryFailed(QueryError::DbError(db)) => {
            StoreError::Unavailable(format!("query failed: SQLSTATE {} {}", db.code, db.message))
        }
        PgError::QueryFailed(QueryError::Text(text)) => {
            StoreError::Unavailable(format!("query failed: {text}"))
        }
        PgError::ConnectionFailed(text) => {
            StoreError::Unavailable(format!("connection failed: {text}"))
        }
        PgError::BadParameter(text) => StoreError::Unavailable(format!("bad parameter: {text}")),
        PgError::ValueConversionFailed(text) => {
            StoreError::Unavailable(format!("value conversion failed: {text}"))
        }
        PgError::Other(text) => StoreError::Unavailable(text),
    }
}

/// The single row of a one-row query, its values converted for [`Row`].
fn single_row(rows: RowSet) -> Result<Row, StoreError> {
    let columns = rows.columns.into_iter().map(|c| c.name).collect();
    let values = rows
        .rows
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Unavailable("a one-row query returned no row".into()))?;
    let values = values.into_iter().map(value).collect::<Result<_, _>>()?;
    Ok(Row::new(columns, values))
}

fn value(value: DbValue) -> Result<Value, StoreError> {
    Ok(match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(b) => Value::Bool(b),
        DbValue::Int16(n) => Value::Int(n.into()),
        DbValue::Int32(n) => Value::Int(n.into()),
        DbValue::Int64(n) => Value::Int(n),
        DbValue::Floating64(x) => Value::Real(x),
        DbValue::Str(s) => Value::Text(s),
        DbValue::Binary(b) => Value::Bytes(b),
        other => {
            let kind = format!("{other:?}");
            let kind = kind.split('(').next().unwrap_or("?").to_owned();
            return Err(StoreError::Unavailable(format!(
                "a column has unexpected type {kind}"
            )));
        }
    })
}

impl Store for PostgresStore {
    fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        // ON CONFLICT instead of relying on the unique violation's SQLSTATE:
        // Spin 4 reports an error raised while rows are read as text only.
        // A concurrent insert of the same email waits for the first and then
        // inserts nothing, so exactly one wins either way.
        let statement = format!(
            "WITH inserted AS ( \
               INSERT INTO users (name, email, password, photo) VALUES ($1, $2, $3, $4) \
               ON CONFLICT ((lower(email))) DO NOTHING \
               RETURNING *) \
             SELECT {USER_COLUMNS} FROM (SELECT 1) AS one LEFT JOIN inserted u ON true"
        );
        let photo = user.photo.as_deref().map_or(ParameterValue::DbNull, text);
        let params = [
            text(&user.name),
            text(&user.email),
            text(&user.password_hash),
            photo,
        ];
        self.query_one(&statement, &params)?
            .user()?
            .ok_or(StoreError::Conflict)
    }

    fn begin_login_attempt(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        // One upsert counts the attempt: the row lock makes parallel attempts
        // for one email queue and each see the previous one's count. A locked
        // email's row is left as it is (the attempt is refused, not counted).
        // A bounded batch of other emails' stale rows is pruned on the way.
        let statement = format!(
            "WITH pruned AS ( \
               DELETE FROM login_throttle WHERE email IN ( \
                 SELECT email FROM login_throttle \
                 WHERE last_attempt_at < now() - $3::int8 * interval '1 second' \
                   AND (locked_until IS NULL OR locked_until < now()) AND email <> $1 \
                 LIMIT 100)), \
             attempt AS ( \
               INSERT INTO login_throttle AS t (email, attempts, locked_until, refused) \
               VALUES ($1, ARRAY[now()], \
                       CASE WHEN $2::int8 <= 1 THEN now() + $3::int8 * interval '1 second' END, false) \
               ON CONFLICT (email) DO UPDATE SET \
                 refused = COALESCE(t.locked_until > now(), false), \
                 last_attempt_at = now(), \
                 attempts = CASE WHEN t.locked_until > now() THEN t.attempts ELSE \
                   array_append(ARRAY(SELECT a FROM unnest(t.attempts) AS a \
                     WHERE a > now() - $3::int8 * interval '1 second' ORDER BY a), now()) END, \
                 locked_until = CASE WHEN t.locked_until > now() THEN t.locked_until \
                   WHEN cardinality(ARRAY(SELECT a FROM unnest(t.attempts) AS a \
                     WHERE a > now() - $3::int8 * interval '1 second')) + 1 >= $2::int8 \
                   THEN now() + $3::int8 * interval '1 second' END \
               RETURNING refused, locked_until) \
             SELECT {USER_COLUMNS}, a.refused, \
               ceil(extract(epoch from (a.locked_until - now())))::int8 AS locked_for \
             FROM attempt AS a \
             LEFT JOIN users u ON lower(u.email) = $1"
        );
        let params = [
            text(email),
            int(throttle.max_failures),
            int(throttle.window_secs),
        ];
        let row = self.query_one(&statement, &params)?;
        let locked_for = row.opt_int("locked_for")?.map(|s| s.max(1) as u64);
        Ok(LoginAttempt {
            user: row.user()?,
            locked_for_secs: if row.boolean("refused")? {
                locked_for
            } else {
                None
            },
        })
    }

    fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM login_throttle WHERE email = $1",
            &[text(email)],
        )?;
        Ok(())
    }

    fn update_password_hash(&self, user_id: &str, password_hash: &str) -> Result<(), StoreError> {
        let statement = "UPDATE users SET password = $2, updated_at = now() WHERE id = $1::uuid";
        self.execute(statement, &[uuid(user_id), text(password_hash)])?;
        Ok(())
    }

    fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        // Also prunes a bounded batch of sessions that expired a day ago, so
        // the table does not grow without bound.
        let statement = "WITH pruned AS ( \
               DELETE FROM sessions WHERE id IN ( \
                 SELECT id FROM sessions WHERE expires_at < now() - interval '1 day' LIMIT 100)) \
             INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, absolute_expires_at) \
             VALUES ($1::uuid, $2::uuid, $3, now() + $4::int8 * interval '1 second', \
                     now() + $5::int8 * interval '1 second')";
        let params = [
            uuid(&session.id),
            uuid(&session.user_id),
            bytes(&session.refresh_digest),
            int(session.refresh_lifetime_secs),
            int(session.absolute_timeout_secs),
        ];
        self.execute(statement, &params)?;
        Ok(())
    }

    fn user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserSession, StoreError> {
        let statement = format!(
            "SELECT {USER_COLUMNS}, (s.id IS NOT NULL) AS session_active \
             FROM (SELECT 1) AS one \
             LEFT JOIN users u ON u.id = $1::uuid \
             LEFT JOIN sessions s ON s.id = $2::uuid AND s.user_id = $1::uuid \
               AND s.revoked_at IS NULL AND s.absolute_expires_at > now()"
        );
        let row = self.query_one(&statement, &[uuid(user_id), uuid(session_id)])?;
        Ok(UserSession {
            user: row.user()?,
            session_active: row.boolean("session_active")?,
        })
    }

    fn rotate_refresh_token(
        &self,
        old: &[u8],
        new: &[u8],
        lifetime_secs: u64,
    ) -> Result<Option<Rotation>, StoreError> {
        // The UPDATE's row lock makes concurrent rotations of one token
        // serialise: the losers re-check the WHERE clause, find the hash
        // changed, and rotate nothing.
        let statement = format!(
            "WITH rotated AS ( \
               UPDATE sessions SET refresh_token_hash = $2, generation = generation + 1, \
                 last_used_at = now(), \
                 expires_at = LEAST(now() + $3::int8 * interval '1 second', absolute_expires_at) \
               WHERE refresh_token_hash = $1 AND revoked_at IS NULL \
                 AND expires_at > now() AND absolute_expires_at > now() \
                 AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id) \
               RETURNING id, user_id, expires_at), \
             retired AS ( \
               INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) \
               SELECT $1, id, now() FROM rotated) \
             SELECT r.id::text AS session_id, r.user_id::text AS session_user_id, \
               ceil(extract(epoch from (r.expires_at - now())))::int8 AS refresh_lifetime, \
               {USER_COLUMNS} \
             FROM (SELECT 1) AS one \
             LEFT JOIN rotated r ON true \
             LEFT JOIN users u ON u.id = r.user_id"
        );
        let row = self.query_one(&statement, &[bytes(old), bytes(new), int(lifetime_secs)])?;
        let Some(session_id) = row.opt_text("session_id")? else {
            return Ok(None);
        };
        Ok(Some(Rotation {
            session_id,
            user_id: row.text("session_user_id")?,
            user: row.user()?,
            refresh_lifetime_secs: row.int("refresh_lifetime")?,
        }))
    }

    fn find_refresh_token(&self, digest: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError> {
        // A retired token names its session in retired_refresh_tokens; a
        // current one is the session's refresh_token_hash.
        let statement = format!(
            "SELECT s.id::text AS session_id, s.user_id::text AS session_user_id, \
               (extract(epoch from (now() - t.retired_at)) * 1000)::int8 AS retired_ms_ago, \
               (s.revoked_at IS NULL AND s.absolute_expires_at > now()) AS session_active, \
               {USER_COLUMNS} \
             FROM (SELECT 1) AS one \
             LEFT JOIN retired_refresh_tokens t ON t.token_hash = $1 \
             LEFT JOIN sessions s ON s.id = COALESCE(t.session_id, \
               (SELECT c.id FROM sessions c WHERE c.refresh_token_hash = $1)) \
             LEFT JOIN users u ON u.id = s.user_id"
        );
        let row = self.query_one(&statement, &[bytes(digest)])?;
        let Some(session_id) = row.opt_text("session_id")? else {
            return Ok(None);
        };
        Ok(Some(KnownRefreshToken {
            session_id,
            user_id: row.text("session_user_id")?,
            user: row.user()?,
            retired_ms_ago: row.opt_int("retired_ms_ago")?,
            session_active: row.boolean("session_active")?,
        }))
    }

    fn revoke_session(&self, session_id: &str, reason: RevokeReason) -> Result<(), StoreError> {
        let statement = "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
                         WHERE id = $1::uuid AND revoked_at IS NULL";
        self.execute(statement, &[uuid(session_id), text(reason.as_str())])?;
        Ok(())
    }

    fn revoke_session_by_id(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        let statement = "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
                         WHERE id = $2::uuid AND user_id = $1::uuid AND revoked_at IS NULL \
                           AND absolute_expires_at > now()";
        let revoked = self.execute(
            statement,
            &[uuid(user_id), uuid(session_id), text(reason.as_str())],
        )?;
        Ok(revoked > 0)
    }

    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        let statement = "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
                         WHERE refresh_token_hash = $1 AND revoked_at IS NULL AND expires_at > now()";
        let revoked = self.execute(statement, &[bytes(digest), text(reason.as_str())])?;
        Ok(revoked > 0)
    }

    fn revoke_all_sessions(&self, user_id: &str, session_id: &str) -> Result<bool, StoreError> {
        // Counts the caller's own session, so 0 means its token's session
        // was not active (the caller was not logged in).
        let statement = "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
             WHERE user_id = $1::uuid AND revoked_at IS NULL \
               AND EXISTS (SELECT 1 FROM sessions c WHERE c.id = $2::uuid AND c.user_id = $1::uuid \
                           AND c.revoked_at IS NULL AND c.absolute_expires_at > now())";
        let params = [
            uuid(user_id),
            uuid(session_id),
            text(RevokeReason::LogoutAll.as_str()),
        ];
        Ok(self.execute(statement, &params)? > 0)
    }
}
