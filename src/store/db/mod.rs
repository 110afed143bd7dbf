//! The two database drivers behind one small trait: Spin's `spin:postgres`
//! and `spin:sqlite` in the component (`spin_pg.rs`, `spin_sqlite.rs`), and
//! native adapters over the `postgres` crate and rusqlite (`native.rs`) for
//! unit tests and for the runner's `migrate`. The store's operations
//! (`users.rs`, `sessions.rs`, ...) speak only this trait.

#[cfg(feature = "native-db")]
pub mod native;
#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
pub mod spin_pg;
#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
pub mod spin_sqlite;

use super::row::{Row, Value};
use crate::error::StoreError;

/// Which SQL a driver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `$1` parameters, `now()`, `timestamptz` read as epoch numbers.
    Postgres,
    /// `?1` parameters; instants are integer microseconds from the
    /// component's clock.
    Sqlite,
}

/// Why a statement failed, as far as the store cares.
#[derive(Debug, Clone, PartialEq)]
pub enum DbErrorKind {
    /// A unique constraint refused the write.
    UniqueViolation,
    /// A table, column or function the statement names does not exist:
    /// the database's schema is behind the component's.
    SchemaBehind,
    /// Another instance holds the schema lock (it is migrating).
    Locked,
    /// Anything else (down, unreachable, full, corrupt, ...).
    Other,
}

/// A failed statement: its kind, and a message for the log (never the
/// statement's parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
}

impl DbError {
    pub fn other(message: impl Into<String>) -> Self {
        DbError {
            kind: DbErrorKind::Other,
            message: message.into(),
        }
    }

    /// Classifies a driver's error text (SQLite gives no codes; Postgres
    /// errors that Spin 4 reports as text only).
    pub fn from_text(message: String) -> Self {
        let kind = if is_missing_schema(&message) {
            DbErrorKind::SchemaBehind
        } else if message.contains("UNIQUE constraint failed")
            || message.contains("duplicate key value")
        {
            DbErrorKind::UniqueViolation
        } else {
            DbErrorKind::Other
        };
        DbError { kind, message }
    }

    /// Classifies a Postgres error by its SQLSTATE.
    pub fn from_sqlstate(code: &str, message: &str) -> Self {
        let kind = match code {
            "23505" => DbErrorKind::UniqueViolation,
            // undefined table, column, function, object
            "42P01" | "42703" | "42883" | "42704" => DbErrorKind::SchemaBehind,
            // lock not available: pg_try_advisory_xact_lock lost
            "55P03" => DbErrorKind::Locked,
            _ => DbErrorKind::Other,
        };
        DbError {
            kind,
            message: format!("SQLSTATE {code} {message}"),
        }
    }
}

fn is_missing_schema(message: &str) -> bool {
    ["no such table", "no such column", "has no column named"]
        .iter()
        .any(|needle| message.contains(needle))
        || (message.contains("does not exist")
            && ["relation", "column", "function"]
                .iter()
                .any(|what| message.contains(what)))
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error.kind {
            DbErrorKind::UniqueViolation => StoreError::Conflict,
            DbErrorKind::Locked => StoreError::Migrating,
            DbErrorKind::SchemaBehind | DbErrorKind::Other => {
                StoreError::Unavailable(error.message)
            }
        }
    }
}

/// A statement's result: column names and rows of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn first(self) -> Option<Row> {
        let columns = self.columns;
        self.rows
            .into_iter()
            .next()
            .map(|values| Row::new(columns, values))
    }

    pub fn into_rows(self) -> Vec<Row> {
        let columns = self.columns;
        self.rows
            .into_iter()
            .map(|values| Row::new(columns.clone(), values))
            .collect()
    }
}

/// One database connection, as the store sees it.
pub trait Db {
    fn dialect(&self) -> Dialect;
    /// A statement that returns rows. On Postgres it must return at least
    /// one row by construction: real Spin 4.0.x never answers a query with
    /// zero rows (README, "The Spin 4.0.x zero-row bug").
    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError>;
    /// A statement whose rows are not needed: the number of rows changed.
    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError>;
}

impl<D: Db + ?Sized> Db for &D {
    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        (**self).query(statement, params)
    }
    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        (**self).execute(statement, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_and_columns_mean_the_schema_is_behind() {
        for text in [
            "no such table: sessions",
            "table sessions has no column named user_agent",
            "no such column: s.ip",
            "relation \"sessions\" does not exist",
        ] {
            assert_eq!(
                DbError::from_text(text.into()).kind,
                DbErrorKind::SchemaBehind
            );
        }
        assert_eq!(
            DbError::from_sqlstate("42703", "column x does not exist").kind,
            DbErrorKind::SchemaBehind
        );
        assert_eq!(
            DbError::from_text("database is locked".into()).kind,
            DbErrorKind::Other
        );
    }

    #[test]
    fn unique_violations_are_conflicts_and_a_held_lock_is_migrating() {
        assert_eq!(
            StoreError::from(DbError::from_sqlstate("23505", "dup")),
            StoreError::Conflict
        );
        assert_eq!(
            StoreError::from(DbError::from_text(
                "UNIQUE constraint failed: users.email".into()
            )),
            StoreError::Conflict
        );
        assert_eq!(
            StoreError::from(DbError::from_sqlstate("55P03", "busy")),
            StoreError::Migrating
        );
    }
}
