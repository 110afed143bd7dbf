//! The storage port over SQLite: Spin's `spin:sqlite/sqlite@3.0.0` in the
//! component (`spin_sqlite.rs`), rusqlite in the unit tests below.
//!
//! Spin runs each `execute` as one statement on its own, and a managed
//! database (Fermyon Cloud, Turso) may send each over the network, so no
//! write here relies on a transaction spanning calls: every write that must
//! be atomic is one statement (`INSERT ... ON CONFLICT ... RETURNING`,
//! `UPDATE ... RETURNING`), and the one that must touch two tables (retiring
//! a rotated refresh token) does so through a trigger of the schema
//! (`migrations/sqlite`). SQLite serialises writers, so a statement sees
//! every earlier write. Instants are whole microseconds since the Unix epoch,
//! taken from the component's clock.
//!
//! Zero setup: a database without the tables gets them on first use (the
//! idempotent `migrations/sqlite/V1__schema.sql`, one statement per call),
//! so `spin up` and `spin cloud deploy` need no migration step.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::row::{Row, Value};
use super::{
    KnownRefreshToken, LoginAttempt, NewSession, NewUser, RevokeReason, Rotation, Store, Throttle,
    User, UserSession,
};
use crate::error::StoreError;

/// One SQLite statement and its result, as Spin's `execute` gives it.
pub trait SqliteConnection {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError>;
}

/// A statement's result: column names and rows of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    fn first(self) -> Option<Row> {
        let columns = self.columns;
        self.rows
            .into_iter()
            .next()
            .map(|values| Row::new(columns, values))
    }
}

/// The user columns of a `users` row, named as [`Row::user`] reads them.
fn user_columns(table: &str) -> String {
    let p = if table.is_empty() {
        String::new()
    } else {
        format!("{table}.")
    };
    format!(
        "{p}id AS user_id, {p}name AS name, {p}email AS email, {p}password AS password, \
         {p}photo AS photo, {p}role AS role, {p}verified AS verified, \
         {p}created_at AS created_us, {p}updated_at AS updated_us"
    )
}

const MICROS_PER_SEC: i64 = 1_000_000;
/// Sessions and throttle rows are pruned this long after they stopped mattering.
const PRUNE_AFTER_US: i64 = 86_400 * MICROS_PER_SEC;
/// At most this many stale rows are pruned per request.
const PRUNE_BATCH: i64 = 100;

/// The schema, applied when a statement finds a table missing.
const SCHEMA: &str = include_str!("../../migrations/sqlite/V1__schema.sql");

/// The statements of a schema file, one per `execute` (Spin runs only the
/// first statement of a call): comments dropped, split at the `;` that ends
/// a line, except inside a trigger's `BEGIN ... END;`.
pub fn schema_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut in_trigger_body = false;
    for line in sql.lines() {
        let line = line.split("--").next().unwrap_or("").trim_end();
        if line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let upper = line.trim().to_ascii_uppercase();
        if upper == "BEGIN" {
            in_trigger_body = true;
        }
        let ends = if in_trigger_body {
            upper == "END;"
        } else {
            line.ends_with(';')
        };
        if ends {
            in_trigger_body = false;
            statements.push(std::mem::take(&mut current).trim().to_owned());
        }
    }
    statements
}

pub struct SqliteStore<C> {
    connection: C,
    clock: fn() -> i64,
    /// Whether this instance already applied the schema (once is enough).
    schema_applied: Cell<bool>,
}

/// Microseconds since the Unix epoch (the WASI wall clock inside Spin).
pub fn system_clock_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl<C: SqliteConnection> SqliteStore<C> {
    pub fn new(connection: C) -> Self {
        Self::with_clock(connection, system_clock_us)
    }

    pub fn with_clock(connection: C, clock: fn() -> i64) -> Self {
        SqliteStore {
            connection,
            clock,
            schema_applied: Cell::new(false),
        }
    }

    fn now(&self) -> Value {
        Value::Int((self.clock)())
    }

    /// Runs a statement; one that finds a table missing creates the schema
    /// and runs once more.
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
        match self.connection.execute(statement, params) {
            Err(StoreError::Unavailable(message))
                if message.contains("no such table") && !self.schema_applied.get() =>
            {
                self.apply_schema()?;
                self.connection.execute(statement, params)
            }
            result => result,
        }
    }

    fn apply_schema(&self) -> Result<(), StoreError> {
        self.schema_applied.set(true);
        for statement in schema_statements(SCHEMA) {
            self.connection.execute(&statement, &[])?;
        }
        crate::log::info("sqlite: the database had no tables; created them (migrations/sqlite)");
        Ok(())
    }

    fn first_row(&self, statement: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.execute(statement, params)?.first())
    }

    /// A single-row lookup that starts from a one-row source, so it always
    /// returns a row (with NULLs where the joins found nothing).
    fn one_row(&self, statement: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.first_row(statement, params)?
            .ok_or_else(|| StoreError::Unavailable("a one-row query returned no row".into()))
    }

    fn user_by(&self, condition: &str, key: &str) -> Result<Option<User>, StoreError> {
        let statement = format!(
            "SELECT {} FROM (SELECT 1) AS one LEFT JOIN users u ON {condition}",
            user_columns("u")
        );
        self.one_row(&statement, &[text(key)])?.user()
    }

    /// Whether an `UPDATE ... RETURNING` changed any row.
    fn changed_any(&self, statement: &str, params: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.execute(statement, params)?.rows.is_empty())
    }
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn bytes(value: &[u8]) -> Value {
    Value::Bytes(value.to_vec())
}

fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

fn secs_to_us(secs: u64) -> Value {
    Value::Int(
        i64::try_from(secs)
            .unwrap_or(i64::MAX / MICROS_PER_SEC)
            .saturating_mul(MICROS_PER_SEC),
    )
}

/// Whole seconds from `now_us` until `until_us`, rounded up.
fn secs_until(until_us: i64, now_us: i64) -> i64 {
    (until_us - now_us + MICROS_PER_SEC - 1).div_euclid(MICROS_PER_SEC)
}

impl<C: SqliteConnection> Store for SqliteStore<C> {
    fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        // One statement: of concurrent registrations of one email the first
        // inserts, the others conflict and return no row.
        let statement = format!(
            "INSERT INTO users (id, name, email, password, photo, verified, role, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 1, 'user', ?6, ?6) \
             ON CONFLICT DO NOTHING \
             RETURNING {}",
            user_columns("")
        );
        let photo = user.photo.as_deref().map_or(Value::Null, text);
        let params = [
            text(&uuid::Uuid::new_v4().to_string()),
            text(&user.name),
            text(&user.email),
            text(&user.password_hash),
            photo,
            self.now(),
        ];
        match self.first_row(&statement, &params)? {
            Some(row) => row.user()?.ok_or(StoreError::Conflict),
            None => Err(StoreError::Conflict),
        }
    }

    fn begin_login_attempt(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        let now = (self.clock)();
        let window = secs_to_us(throttle.window_secs);
        self.execute(
            "DELETE FROM login_throttle WHERE email IN ( \
               SELECT email FROM login_throttle \
               WHERE last_attempt_at < ?1 - ?2 AND (locked_until IS NULL OR locked_until < ?1) \
                 AND email <> ?3 LIMIT ?4)",
            &[
                Value::Int(now),
                window.clone(),
                text(email),
                Value::Int(PRUNE_BATCH),
            ],
        )?;
        // One upsert counts the attempt (SQLite runs one writer at a time, so
        // parallel attempts each see the previous one's count). The SET
        // expressions all read the row as it was. A locked email's row is
        // left as it is: the attempt is refused, not counted. `attempts` is
        // a JSON array of the window's attempt instants.
        let statement = "INSERT INTO login_throttle AS t \
               (email, attempts, locked_until, refused, last_attempt_at) \
             VALUES (?1, json_array(?4), CASE WHEN ?2 <= 1 THEN ?4 + ?3 END, 0, ?4) \
             ON CONFLICT (email) DO UPDATE SET \
               refused = coalesce(t.locked_until > ?4, 0), \
               last_attempt_at = ?4, \
               attempts = CASE WHEN t.locked_until > ?4 THEN t.attempts ELSE \
                 (SELECT json_group_array(at) FROM ( \
                    SELECT value AS at FROM json_each(t.attempts) WHERE value > ?4 - ?3 \
                    UNION ALL SELECT ?4)) END, \
               locked_until = CASE WHEN t.locked_until > ?4 THEN t.locked_until \
                 WHEN (SELECT count(*) FROM json_each(t.attempts) WHERE value > ?4 - ?3) + 1 >= ?2 \
                 THEN ?4 + ?3 END \
             RETURNING refused, locked_until";
        let params = [
            text(email),
            int(throttle.max_failures),
            window,
            Value::Int(now),
        ];
        let attempt = self
            .first_row(statement, &params)?
            .ok_or_else(|| StoreError::Unavailable("the throttle upsert returned no row".into()))?;
        let locked_for_secs = if attempt.boolean("refused")? {
            let until = attempt.int("locked_until")?;
            Some(secs_until(until, now).max(1) as u64)
        } else {
            None
        };
        Ok(LoginAttempt {
            user: self.user_by("lower(u.email) = ?1", email)?,
            locked_for_secs,
        })
    }

    fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM login_throttle WHERE email = ?1",
            &[text(email)],
        )?;
        Ok(())
    }

    fn update_password_hash(&self, user_id: &str, password_hash: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE users SET password = ?2, updated_at = ?3 WHERE id = ?1",
            &[text(user_id), text(password_hash), self.now()],
        )?;
        Ok(())
    }

    fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        // Sessions that expired a day ago go, a bounded batch at a time (a
        // trigger takes their retired tokens with them).
        self.execute(
            "DELETE FROM sessions WHERE id IN ( \
               SELECT id FROM sessions WHERE expires_at < ?1 - ?2 LIMIT ?3)",
            &[
                self.now(),
                Value::Int(PRUNE_AFTER_US),
                Value::Int(PRUNE_BATCH),
            ],
        )?;
        self.execute(
            "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, created_at, \
               last_used_at, expires_at, absolute_expires_at) \
             VALUES (?1, ?2, ?3, 0, ?4, ?4, ?4 + ?5, ?4 + ?6)",
            &[
                text(&session.id),
                text(&session.user_id),
                bytes(&session.refresh_digest),
                self.now(),
                secs_to_us(session.refresh_lifetime_secs),
                secs_to_us(session.absolute_timeout_secs),
            ],
        )?;
        Ok(())
    }

    fn user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserSession, StoreError> {
        let statement = format!(
            "SELECT {}, (s.id IS NOT NULL) AS session_active \
             FROM (SELECT 1) AS one \
             LEFT JOIN users u ON u.id = ?1 \
             LEFT JOIN sessions s ON s.id = ?2 AND s.user_id = ?1 \
               AND s.revoked_at IS NULL AND s.absolute_expires_at > ?3",
            user_columns("u")
        );
        let row = self.one_row(&statement, &[text(user_id), text(session_id), self.now()])?;
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
        // One UPDATE: of concurrent rotations of one token the first changes
        // the hash and the others match nothing. The schema's trigger files
        // the old hash under retired_refresh_tokens in the same statement.
        let now = (self.clock)();
        let statement =
            "UPDATE sessions SET refresh_token_hash = ?2, generation = generation + 1, \
               last_used_at = ?4, expires_at = min(?4 + ?3, absolute_expires_at) \
             WHERE refresh_token_hash = ?1 AND revoked_at IS NULL \
               AND expires_at > ?4 AND absolute_expires_at > ?4 \
               AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id) \
             RETURNING id, user_id, expires_at";
        let params = [
            bytes(old),
            bytes(new),
            secs_to_us(lifetime_secs),
            Value::Int(now),
        ];
        let Some(rotated) = self.first_row(statement, &params)? else {
            return Ok(None);
        };
        let user_id = rotated.text("user_id")?;
        Ok(Some(Rotation {
            session_id: rotated.text("id")?,
            user: self.user_by("u.id = ?1", &user_id)?,
            user_id,
            refresh_lifetime_secs: secs_until(rotated.int("expires_at")?, now),
        }))
    }

    fn find_refresh_token(&self, digest: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError> {
        // A retired token names its session in retired_refresh_tokens; a
        // current one is the session's refresh_token_hash. The age is
        // rounded to milliseconds as Postgres does, and never negative: with
        // instants from several instances' clocks, one running behind must
        // not turn a reuse into one inside the grace period.
        let statement = format!(
            "SELECT s.id AS session_id, s.user_id AS session_user_id, \
               (max(0, ?2 - t.retired_at) + 500) / 1000 AS retired_ms_ago, \
               (s.revoked_at IS NULL AND s.absolute_expires_at > ?2) AS session_active, {} \
             FROM (SELECT 1) AS one \
             LEFT JOIN retired_refresh_tokens t ON t.token_hash = ?1 \
             LEFT JOIN sessions s ON s.id = coalesce(t.session_id, \
               (SELECT c.id FROM sessions c WHERE c.refresh_token_hash = ?1)) \
             LEFT JOIN users u ON u.id = s.user_id",
            user_columns("u")
        );
        let row = self.one_row(&statement, &[bytes(digest), self.now()])?;
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
        self.execute(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?2 \
             WHERE id = ?1 AND revoked_at IS NULL",
            &[text(session_id), text(reason.as_str()), self.now()],
        )?;
        Ok(())
    }

    fn revoke_session_by_id(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        self.changed_any(
            "UPDATE sessions SET revoked_at = ?4, revoked_reason = ?3 \
             WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL AND absolute_expires_at > ?4 \
             RETURNING id",
            &[
                text(user_id),
                text(session_id),
                text(reason.as_str()),
                self.now(),
            ],
        )
    }

    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        self.changed_any(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?2 \
             WHERE refresh_token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
             RETURNING id",
            &[bytes(digest), text(reason.as_str()), self.now()],
        )
    }

    fn revoke_all_sessions(&self, user_id: &str, session_id: &str) -> Result<bool, StoreError> {
        // Counts the caller's own session, so no row means its token's
        // session was not active (the caller was not logged in).
        self.changed_any(
            "UPDATE sessions SET revoked_at = ?4, revoked_reason = ?3 \
             WHERE user_id = ?1 AND revoked_at IS NULL \
               AND EXISTS (SELECT 1 FROM sessions c WHERE c.id = ?2 AND c.user_id = ?1 \
                           AND c.revoked_at IS NULL AND c.absolute_expires_at > ?4) \
             RETURNING id",
            &[
                text(user_id),
                text(session_id),
                text(RevokeReason::LogoutAll.as_str()),
                self.now(),
            ],
        )
    }
}

/// The store's SQL against a real SQLite (rusqlite, the engine Spin embeds)
/// with the schema of `migrations/sqlite`, and a clock the test moves.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::cell::Cell;

    use super::*;

    struct Rusqlite(rusqlite::Connection);

    impl SqliteConnection for Rusqlite {
        fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
            use rusqlite::types::Value as V;
            let fail = |e: rusqlite::Error| StoreError::Unavailable(e.to_string());
            let mut statement = self.0.prepare(statement).map_err(fail)?;
            let columns: Vec<String> = statement
                .column_names()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let params = params.iter().map(|p| match p {
                Value::Null => V::Null,
                Value::Int(n) => V::Integer(*n),
                Value::Real(x) => V::Real(*x),
                Value::Text(s) => V::Text(s.clone()),
                Value::Bool(b) => V::Integer(i64::from(*b)),
                Value::Bytes(b) => V::Blob(b.clone()),
            });
            let width = columns.len();
            let rows = statement
                .query_map(rusqlite::params_from_iter(params), |row| {
                    (0..width)
                        .map(|i| {
                            Ok(match row.get::<_, V>(i)? {
                                V::Null => Value::Null,
                                V::Integer(n) => Value::Int(n),
                                V::Real(x) => Value::Real(x),
                                V::Text(s) => Value::Text(s),
                                V::Blob(b) => Value::Bytes(b),
                            })
                        })
                        .collect()
                })
                .map_err(fail)?
                .collect::<Result<_, _>>()
                .map_err(fail)?;
            Ok(Rows { columns, rows })
        }
    }

    thread_local! {
        static NOW_US: Cell<i64> = const { Cell::new(1_700_000_000_000_000) };
    }

    fn test_clock() -> i64 {
        NOW_US.with(Cell::get)
    }

    fn advance_secs(secs: i64) {
        NOW_US.with(|now| now.set(now.get() + secs * MICROS_PER_SEC));
    }

    fn store() -> SqliteStore<Rusqlite> {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        // Idempotent, as `spin up --sqlite @file` needs it to be.
        connection.execute_batch(SCHEMA).unwrap();
        SqliteStore::with_clock(Rusqlite(connection), test_clock)
    }

    #[test]
    fn the_schema_splits_into_its_statements_triggers_whole() {
        let statements = schema_statements(SCHEMA);
        let creates = SCHEMA.matches("\nCREATE ").count();
        assert_eq!(statements.len(), creates, "{statements:#?}");
        assert!(statements
            .iter()
            .all(|s| s.starts_with("CREATE") && s.ends_with(';')));
        let trigger = statements
            .iter()
            .find(|s| s.contains("sessions_retire_refresh_token"))
            .unwrap();
        assert!(trigger.contains("INSERT OR REPLACE") && trigger.ends_with("END;"));
        assert!(!statements.iter().any(|s| s.contains("--")));
    }

    #[test]
    fn an_empty_database_gets_the_schema_on_first_use_one_statement_at_a_time() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let store = SqliteStore::with_clock(Rusqlite(connection), test_clock);
        let user = store.insert_user(&new_user("first@example.com")).unwrap();
        session(&store, &user, b"r1");
        assert!(store
            .rotate_refresh_token(b"r1", b"r2", 60)
            .unwrap()
            .is_some());
        // The trigger came with it.
        assert!(store
            .find_refresh_token(b"r1")
            .unwrap()
            .unwrap()
            .retired_ms_ago
            .is_some());
        let tables: i64 = store
            .connection
            .0
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 4);
    }

    fn new_user(email: &str) -> NewUser {
        NewUser {
            name: "Ann".into(),
            email: email.into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            photo: None,
        }
    }

    fn session(store: &SqliteStore<Rusqlite>, user: &User, digest: &[u8]) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        store
            .create_session(&NewSession {
                id: id.clone(),
                user_id: user.id.clone(),
                refresh_digest: digest.to_vec(),
                refresh_lifetime_secs: 3600,
                absolute_timeout_secs: 7200,
            })
            .unwrap();
        id
    }

    #[test]
    fn an_email_registers_once() {
        let store = store();
        let user = store.insert_user(&new_user("ann@example.com")).unwrap();
        assert_eq!(user.email, "ann@example.com");
        assert_eq!((user.role.as_str(), user.verified), ("user", true));
        assert_eq!(user.created_at_us, test_clock());
        assert_eq!(
            store.insert_user(&new_user("ann@example.com")),
            Err(StoreError::Conflict)
        );
        assert_eq!(
            store.insert_user(&new_user("ANN@example.com")),
            Err(StoreError::Conflict)
        );
    }

    #[test]
    fn login_attempts_lock_the_email_for_the_window_then_lift() {
        let store = store();
        store.insert_user(&new_user("bob@example.com")).unwrap();
        let throttle = Throttle {
            max_failures: 3,
            window_secs: 60,
        };
        for _ in 0..3 {
            let attempt = store
                .begin_login_attempt("bob@example.com", throttle)
                .unwrap();
            assert_eq!(attempt.locked_for_secs, None);
            assert_eq!(attempt.user.unwrap().email, "bob@example.com");
        }
        advance_secs(20);
        let refused = store
            .begin_login_attempt("bob@example.com", throttle)
            .unwrap();
        assert_eq!(refused.locked_for_secs, Some(40));
        advance_secs(41);
        let lifted = store
            .begin_login_attempt("bob@example.com", throttle)
            .unwrap();
        assert_eq!(lifted.locked_for_secs, None);
        // A success forgets the attempts; an unknown email is counted too.
        store.clear_login_attempts("bob@example.com").unwrap();
        for _ in 0..3 {
            store
                .begin_login_attempt("bob@example.com", throttle)
                .unwrap();
        }
        let nobody = store
            .begin_login_attempt("nobody@example.com", throttle)
            .unwrap();
        assert_eq!((nobody.user, nobody.locked_for_secs), (None, None));
    }

    #[test]
    fn attempts_outside_the_window_do_not_count() {
        let store = store();
        let throttle = Throttle {
            max_failures: 2,
            window_secs: 10,
        };
        store
            .begin_login_attempt("c@example.com", throttle)
            .unwrap();
        advance_secs(11);
        // The first attempt fell out of the window: this is the first of
        // the new one, and the next reaches the limit and locks...
        for _ in 0..2 {
            let attempt = store
                .begin_login_attempt("c@example.com", throttle)
                .unwrap();
            assert_eq!(attempt.locked_for_secs, None);
        }
        // ...so the one after is refused for the window.
        let refused = store
            .begin_login_attempt("c@example.com", throttle)
            .unwrap();
        assert_eq!(refused.locked_for_secs, Some(10));
    }

    #[test]
    fn rotation_retires_the_old_token_once() {
        let store = store();
        let user = store.insert_user(&new_user("d@example.com")).unwrap();
        let id = session(&store, &user, b"old");
        advance_secs(5);
        let rotation = store
            .rotate_refresh_token(b"old", b"new", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(
            (rotation.session_id.as_str(), rotation.user_id.as_str()),
            (id.as_str(), user.id.as_str())
        );
        assert_eq!(rotation.user, Some(user.clone()));
        // Capped by the absolute timeout: 7200 s after login, 5 s ago.
        assert_eq!(rotation.refresh_lifetime_secs, 3600);
        assert_eq!(
            store.rotate_refresh_token(b"old", b"newer", 3600).unwrap(),
            None
        );
        advance_secs(2);
        let retired = store.find_refresh_token(b"old").unwrap().unwrap();
        assert_eq!(retired.retired_ms_ago, Some(2000));
        assert!(retired.session_active);
        let current = store.find_refresh_token(b"new").unwrap().unwrap();
        assert_eq!((current.session_id, current.retired_ms_ago), (id, None));
        assert_eq!(store.find_refresh_token(b"unknown").unwrap(), None);
    }

    #[test]
    fn the_refresh_lifetime_is_capped_by_the_absolute_timeout() {
        let store = store();
        let user = store.insert_user(&new_user("e@example.com")).unwrap();
        session(&store, &user, b"t1");
        advance_secs(3000);
        let rotation = store
            .rotate_refresh_token(b"t1", b"t2", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(rotation.refresh_lifetime_secs, 3600);
        advance_secs(3000);
        let rotation = store
            .rotate_refresh_token(b"t2", b"t3", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(rotation.refresh_lifetime_secs, 1200);
        advance_secs(1201);
        assert_eq!(
            store.rotate_refresh_token(b"t3", b"t4", 3600).unwrap(),
            None
        );
        assert!(
            !store
                .find_refresh_token(b"t3")
                .unwrap()
                .unwrap()
                .session_active
        );
    }

    #[test]
    fn revocation_ends_sessions() {
        let store = store();
        let user = store.insert_user(&new_user("f@example.com")).unwrap();
        let first = session(&store, &user, b"a");
        let second = session(&store, &user, b"b");
        assert!(
            store
                .user_with_session(&user.id, &first)
                .unwrap()
                .session_active
        );
        assert!(store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout)
            .unwrap());
        assert!(!store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout)
            .unwrap());
        assert!(
            !store
                .user_with_session(&user.id, &first)
                .unwrap()
                .session_active
        );
        assert_eq!(store.rotate_refresh_token(b"a", b"c", 60).unwrap(), None);
        // logout-all needs the caller's own session to be active...
        assert!(!store.revoke_all_sessions(&user.id, &first).unwrap());
        assert!(
            store
                .user_with_session(&user.id, &second)
                .unwrap()
                .session_active
        );
        let third = session(&store, &user, b"d");
        assert!(store.revoke_all_sessions(&user.id, &third).unwrap());
        // ...and then ends every session, the caller's included.
        for id in [&second, &third] {
            assert!(
                !store
                    .user_with_session(&user.id, id)
                    .unwrap()
                    .session_active
            );
        }
        assert!(!store
            .revoke_session_by_id(&user.id, &second, RevokeReason::Logout)
            .unwrap());
    }

    #[test]
    fn old_sessions_are_pruned_with_their_retired_tokens() {
        let store = store();
        let user = store.insert_user(&new_user("g@example.com")).unwrap();
        session(&store, &user, b"x");
        store
            .rotate_refresh_token(b"x", b"y", 3600)
            .unwrap()
            .unwrap();
        advance_secs(3600 + 86_400 + 1);
        session(&store, &user, b"z");
        assert_eq!(store.find_refresh_token(b"x").unwrap(), None);
        assert_eq!(store.find_refresh_token(b"y").unwrap(), None);
        assert!(store.find_refresh_token(b"z").unwrap().is_some());
    }

    #[test]
    fn a_retired_tokens_age_is_rounded_and_never_negative() {
        let store = store();
        let user = store.insert_user(&new_user("clock@example.com")).unwrap();
        session(&store, &user, b"one");
        store
            .rotate_refresh_token(b"one", b"two", 3600)
            .unwrap()
            .unwrap();
        NOW_US.with(|now| now.set(now.get() + 1_499_600));
        let age = |store: &SqliteStore<Rusqlite>| {
            store
                .find_refresh_token(b"one")
                .unwrap()
                .unwrap()
                .retired_ms_ago
        };
        assert_eq!(age(&store), Some(1500));
        // Another instance whose clock is two seconds behind.
        NOW_US.with(|now| now.set(now.get() - 3_500_000));
        assert_eq!(age(&store), Some(0));
    }

    #[test]
    fn a_full_database_is_unavailable() {
        let store = store();
        let sql = &store.connection.0;
        let pages: i64 = sql
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        // A hard page limit, as a full disk would set one.
        sql.execute_batch(&format!("PRAGMA max_page_count = {pages}"))
            .unwrap();
        let mut error = None;
        for n in 0..10_000 {
            if let Err(e) = store.insert_user(&new_user(&format!("u{n}@example.com"))) {
                error = Some(e);
                break;
            }
        }
        let Some(StoreError::Unavailable(message)) = error else {
            panic!("expected Unavailable, got {error:?}");
        };
        assert!(message.contains("full"), "{message}");
    }

    #[test]
    fn a_rotation_that_cannot_retire_the_old_token_changes_nothing() {
        let store = store();
        let user = store.insert_user(&new_user("atomic@example.com")).unwrap();
        session(&store, &user, b"current");
        // The trigger's half of the rotation fails (as a full disk would
        // make it): the UPDATE must not survive it.
        store
            .connection
            .0
            .execute_batch(
                "CREATE TEMP TRIGGER fail_retire BEFORE INSERT ON retired_refresh_tokens \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            )
            .unwrap();
        assert!(matches!(
            store.rotate_refresh_token(b"current", b"next", 3600),
            Err(StoreError::Unavailable(_))
        ));
        let current = store.find_refresh_token(b"current").unwrap().unwrap();
        assert_eq!(current.retired_ms_ago, None);
        assert!(current.session_active);
        assert_eq!(store.find_refresh_token(b"next").unwrap(), None);
        store
            .connection
            .0
            .execute_batch("DROP TRIGGER fail_retire")
            .unwrap();
        assert!(store
            .rotate_refresh_token(b"current", b"next", 3600)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_password_hash_update_touches_updated_at() {
        let store = store();
        let user = store.insert_user(&new_user("h@example.com")).unwrap();
        advance_secs(1);
        store
            .update_password_hash(&user.id, "$argon2id$new")
            .unwrap();
        let user_after = store.user_by("u.id = ?1", &user.id).unwrap().unwrap();
        assert_eq!(user_after.password_hash, "$argon2id$new");
        assert_eq!(
            user_after.updated_at_us,
            user.updated_at_us + MICROS_PER_SEC
        );
    }
}
