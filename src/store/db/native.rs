//! [`Db`] natively, for the store's unit tests and the runner's `migrate`:
//! the `postgres` crate against a real PostgreSQL server, binding and
//! reading values the way Spin's host does (a string binds only to text,
//! `timestamptz` cannot be read), and rusqlite, the
//! engine Spin embeds.

use postgres::types::{ToSql, Type};
use postgres::NoTls;
use std::cell::RefCell;

use super::{Db, DbError, Dialect, Rows};
use crate::store::row::Value;

pub struct NativePostgres {
    client: RefCell<postgres::Client>,
}

impl NativePostgres {
    /// `url`: `postgres://…` or `host=… dbname=…` (no TLS: local servers).
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let client = postgres::Client::connect(url, NoTls)
            .map_err(|e| DbError::other(format!("connection failed: {e}")))?;
        Ok(Self::from_client(client))
    }

    /// Over a client connected elsewhere (the runner's, with its TLS).
    pub fn from_client(client: postgres::Client) -> Self {
        NativePostgres {
            client: RefCell::new(client),
        }
    }
}

fn pg_parameter(value: &Value) -> Box<dyn ToSql + Sync> {
    match value {
        Value::Null => Box::new(AnyNull),
        Value::Int(n) => Box::new(*n),
        Value::Real(x) => Box::new(*x),
        Value::Text(s) => Box::new(s.clone()),
        Value::Bool(b) => Box::new(*b),
        Value::Bytes(b) => Box::new(b.clone()),
    }
}

/// A NULL of whatever type the statement wants, as Spin's host binds
/// `db-null` (a typed `None` would be refused for, say, a `bytea`).
#[derive(Debug)]
struct AnyNull;

impl ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_error(error: postgres::Error) -> DbError {
    match error.as_db_error() {
        Some(db) => DbError::from_sqlstate(db.code().code(), db.message()),
        None => DbError::from_text(error.to_string()),
    }
}

fn pg_value(row: &postgres::Row, index: usize) -> Result<Value, DbError> {
    let column = &row.columns()[index];
    let read = |e: postgres::Error| DbError::other(format!("column {}: {e}", column.name()));
    let ty = column.type_();
    Ok(match *ty {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)
            .map_err(read)?
            .map(Value::Bool),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map_err(read)?
            .map(|n| Value::Int(n.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map_err(read)?
            .map(|n| Value::Int(n.into())),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map_err(read)?
            .map(Value::Int),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map_err(read)?
            .map(Value::Real),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => row
            .try_get::<_, Option<String>>(index)
            .map_err(read)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(index)
            .map_err(read)?
            .map(Value::Bytes),
        _ => {
            return Err(DbError::other(format!(
                "column {} has a type the store does not read: {ty}",
                column.name()
            )))
        }
    }
    .unwrap_or(Value::Null))
}

impl Db for NativePostgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<Box<dyn ToSql + Sync>> = params.iter().map(pg_parameter).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let statement = self
            .client
            .borrow_mut()
            .prepare(statement)
            .map_err(pg_error)?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let found = self
            .client
            .borrow_mut()
            .query(&statement, &refs)
            .map_err(pg_error)?;
        let rows = found
            .iter()
            .map(|row| (0..row.len()).map(|i| pg_value(row, i)).collect())
            .collect::<Result<_, _>>()?;
        Ok(Rows { columns, rows })
    }

    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        let params: Vec<Box<dyn ToSql + Sync>> = params.iter().map(pg_parameter).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        self.client
            .borrow_mut()
            .execute(statement, &refs)
            .map_err(pg_error)
    }
}

pub struct NativeSqlite {
    pub connection: rusqlite::Connection,
}

impl NativeSqlite {
    pub fn new(connection: rusqlite::Connection) -> Self {
        NativeSqlite { connection }
    }

    fn rows(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        use rusqlite::types::Value as V;
        let fail = |e: rusqlite::Error| DbError::from_text(e.to_string());
        let mut statement = self.connection.prepare(statement).map_err(fail)?;
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
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(fail)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        Ok(Rows { columns, rows })
    }
}

impl Db for NativeSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.rows(statement, params)
    }

    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        self.rows(statement, params)?;
        Ok(self.connection.changes())
    }
}
