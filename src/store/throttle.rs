//! Login throttling: one row per (lower-cased) email holding the instants
//! of its recent attempts, counted BEFORE the password is checked with one
//! upsert on that row, so parallel guesses queue on it and none slips past
//! the limit. A locked email's row is left as it is: the attempt is
//! refused, not counted. Stale rows of other emails are pruned in bounded
//! batches on the way.

use super::db::{Db, Dialect};
use super::row::Value;
use super::users::user_columns;
use super::{int, secs_to_us, secs_until, text, LoginAttempt, SqlStore, Throttle, PRUNE_BATCH};
use crate::error::StoreError;

impl<D: Db> SqlStore<D> {
    pub(super) fn begin_login_attempt(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        match self.dialect() {
            Dialect::Postgres => self.begin_login_attempt_postgres(email, throttle),
            Dialect::Sqlite => self.begin_login_attempt_sqlite(email, throttle),
        }
    }

    /// One round trip: prune, count and look the user up in one statement.
    fn begin_login_attempt_postgres(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        let statement = format!(
            "WITH pruned AS ( \
               DELETE FROM login_throttle WHERE email IN ( \
                 SELECT email FROM login_throttle \
                 WHERE last_attempt_at < now() - $3::int8 * interval '1 second' \
                   AND (locked_until IS NULL OR locked_until < now()) AND email <> $1 \
                 LIMIT {PRUNE_BATCH})), \
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
               RETURNING refused, locked_until, \
                 (NOT refused AND locked_until = now() + $3::int8 * interval '1 second') \
                   AS sets_lock) \
             SELECT {}, a.refused, COALESCE(a.sets_lock, false) AS sets_lock, \
               ceil(extract(epoch from (a.locked_until - now())))::int8 AS locked_for \
             FROM attempt AS a \
             LEFT JOIN users u ON lower(u.email) = $1",
            user_columns(Dialect::Postgres, "u")
        );
        let params = [
            text(email),
            int(throttle.max_failures),
            int(throttle.window_secs),
        ];
        let row = self.one_row(&statement, &params)?;
        let locked_for = row.opt_int("locked_for")?.map(|s| s.max(1) as u64);
        Ok(LoginAttempt {
            user: row.user()?,
            locked_for_secs: if row.boolean("refused")? {
                locked_for
            } else {
                None
            },
            sets_lock: row.boolean("sets_lock")?,
        })
    }

    /// Three statements (SQLite's upsert cannot join): prune, count, look
    /// up. SQLite runs one writer at a time, so parallel attempts each see
    /// the previous one's count. `attempts` is a JSON array of instants.
    fn begin_login_attempt_sqlite(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        let now = self.now_us();
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
        // The SET expressions all read the row as it was.
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
             RETURNING refused, locked_until, \
               coalesce(NOT refused AND locked_until = ?4 + ?3, 0) AS sets_lock";
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
        let user = self
            .one_row(
                &format!(
                    "SELECT {} FROM (SELECT 1) AS one LEFT JOIN users u ON lower(u.email) = ?1",
                    user_columns(Dialect::Sqlite, "u")
                ),
                &[text(email)],
            )?
            .user()?;
        Ok(LoginAttempt {
            user,
            locked_for_secs,
            sets_lock: attempt.boolean("sets_lock")?,
        })
    }

    /// A successful login: forgets the email's attempts and lock.
    pub(super) fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        let statement = match self.dialect() {
            Dialect::Postgres => "DELETE FROM login_throttle WHERE email = $1",
            Dialect::Sqlite => "DELETE FROM login_throttle WHERE email = ?1",
        };
        self.execute(statement, &[text(email)])?;
        Ok(())
    }
}
