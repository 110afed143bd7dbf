//! Users: registration, the password-hash upgrade, and the user columns
//! every query that returns a user selects (read by [`Row::user`]).

use super::db::{Db, Dialect};
use super::row::Value;
use super::{opt_text, text, NewUser, SqlStore, User};
use crate::error::StoreError;

/// The user columns of a `users` row aliased `alias` (`""`: unqualified,
/// as SQLite's `RETURNING` needs them), named as
/// [`Row::user`](super::row::Row::user) reads them. Postgres reads its
/// `timestamptz` instants as epoch microseconds (Spin cannot read the type).
pub(super) fn user_columns(dialect: Dialect, alias: &str) -> String {
    let a = if alias.is_empty() {
        String::new()
    } else {
        format!("{alias}.")
    };
    match dialect {
        Dialect::Postgres => format!(
            "{a}id::text AS user_id, {a}name, {a}email, {a}password, {a}photo, {a}role, \
             {a}verified, {a}disabled, (extract(epoch from {a}created_at) * 1000000)::int8 AS created_us, \
             (extract(epoch from {a}updated_at) * 1000000)::int8 AS updated_us"
        ),
        Dialect::Sqlite => format!(
            "{a}id AS user_id, {a}name AS name, {a}email AS email, {a}password AS password, \
             {a}photo AS photo, {a}role AS role, {a}verified AS verified, \
             {a}disabled AS disabled, \
             {a}created_at AS created_us, {a}updated_at AS updated_us"
        ),
    }
}

impl<D: Db> SqlStore<D> {
    /// One statement, so that of concurrent registrations of one email
    /// exactly one inserts; the others find the email taken (`Conflict`).
    /// `ON CONFLICT` rather than the unique violation's SQLSTATE: Spin 4
    /// reports an error raised while rows stream as text only.
    pub(super) fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let photo = opt_text(user.photo.as_deref());
        let row = match self.dialect() {
            Dialect::Postgres => self.one_row(
                &format!(
                    "WITH inserted AS ( \
                       INSERT INTO users (name, email, password, photo, verified) \
                       VALUES ($1, $2, $3, $4, $5) \
                       ON CONFLICT ((lower(email))) DO NOTHING \
                       RETURNING *) \
                     SELECT {} FROM (SELECT 1) AS one LEFT JOIN inserted u ON true",
                    user_columns(Dialect::Postgres, "u")
                ),
                &[
                    text(&user.name),
                    text(&user.email),
                    text(&user.password_hash),
                    photo,
                    Value::Bool(user.verified),
                ],
            )?,
            Dialect::Sqlite => {
                let inserted = self.first_row(
                    &format!(
                        "INSERT INTO users (id, name, email, password, photo, verified, role, \
                           created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?7, 'user', ?6, ?6) \
                         ON CONFLICT DO NOTHING \
                         RETURNING {}",
                        user_columns(Dialect::Sqlite, "")
                    ),
                    &[
                        text(&uuid::Uuid::new_v4().to_string()),
                        text(&user.name),
                        text(&user.email),
                        text(&user.password_hash),
                        photo,
                        self.now(),
                        Value::Bool(user.verified),
                    ],
                )?;
                inserted.ok_or(StoreError::Conflict)?
            }
        };
        row.user()?.ok_or(StoreError::Conflict)
    }

    pub(super) fn update_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        match self.dialect() {
            Dialect::Postgres => self.execute(
                "UPDATE users SET password = $2, updated_at = now() WHERE id = $1::text::uuid",
                &[text(user_id), text(password_hash)],
            ),
            Dialect::Sqlite => self.execute(
                "UPDATE users SET password = ?2, updated_at = ?3 WHERE id = ?1",
                &[text(user_id), text(password_hash), self.now()],
            ),
        }?;
        Ok(())
    }
}
