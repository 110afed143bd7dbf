//! [`Db`] over Spin's `spin:sqlite/sqlite@3.0.0` (spin-sdk's `sqlite3`): the
//! database named by `database_url` (`sqlite:default`), opened on first use
//! so that routes without storage never open it.

use std::cell::OnceCell;

use spin_sdk::sqlite3::{Connection, Error, QueryResult, Value as SqliteValue};

use super::{Db, DbError, Dialect, Rows};
use crate::store::row::Value;

pub struct SpinSqlite {
    database: String,
    connection: OnceCell<Connection>,
}

impl SpinSqlite {
    pub fn new(database: String) -> Self {
        SpinSqlite {
            database,
            connection: OnceCell::new(),
        }
    }

    fn connection(&self) -> Result<&Connection, DbError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open(&self.database).map_err(|e| self.describe(e))?;
        Ok(self.connection.get_or_init(|| connection))
    }

    /// Spin's errors, said in terms of what to fix (the log gets this; the
    /// client gets a plain 503).
    fn describe(&self, error: Error) -> DbError {
        let database = &self.database;
        match error {
            Error::NoSuchDatabase => DbError::other(format!(
                "sqlite: no database `{database}`: only `default` exists unless the runtime \
                 config defines more ([sqlite_database.{database}])"
            )),
            Error::AccessDenied => DbError::other(format!(
                "sqlite: access to database `{database}` denied: list it in the component's \
                 sqlite_databases in spin.toml"
            )),
            Error::InvalidConnection => DbError::other("sqlite: invalid connection"),
            Error::DatabaseFull => DbError::other(format!("sqlite: database `{database}` is full")),
            Error::Io(message) => DbError::from_text(format!("sqlite: {message}")),
        }
    }

    fn run(&self, statement: &str, params: &[Value]) -> Result<QueryResult, DbError> {
        let params: Vec<SqliteValue> = params.iter().map(parameter).collect();
        self.connection()?
            .execute(statement, &params)
            .map_err(|e| self.describe(e))
    }
}

impl Db for SpinSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        Ok(rows(self.run(statement, params)?))
    }

    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        self.run(statement, params)?;
        Ok(self.connection()?.changes())
    }
}

fn parameter(value: &Value) -> SqliteValue {
    match value {
        Value::Null => SqliteValue::Null,
        Value::Int(n) => SqliteValue::Integer(*n),
        Value::Real(x) => SqliteValue::Real(*x),
        Value::Text(s) => SqliteValue::Text(s.clone()),
        Value::Bool(b) => SqliteValue::Integer(i64::from(*b)),
        Value::Bytes(b) => SqliteValue::Blob(b.clone()),
    }
}

fn rows(result: QueryResult) -> Rows {
    let convert = |value: SqliteValue| match value {
        SqliteValue::Null => Value::Null,
        SqliteValue::Integer(n) => Value::Int(n),
        SqliteValue::Real(x) => Value::Real(x),
        SqliteValue::Text(s) => Value::Text(s),
        SqliteValue::Blob(b) => Value::Bytes(b),
    };
    Rows {
        columns: result.columns,
        rows: result
            .rows
            .into_iter()
            .map(|row| row.values.into_iter().map(convert).collect())
            .collect(),
    }
}
