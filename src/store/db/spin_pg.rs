//! [`Db`] over Spin's `spin:postgres/postgres@4.0.0` (spin-sdk's `pg4`),
//! the connection opened on first use so that routes without storage
//! (health, JWKS) never open one.

use std::cell::OnceCell;

use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError, RowSet};

use super::{Db, DbError, Dialect, Rows};
use crate::store::row::Value;

pub struct SpinPostgres {
    address: String,
    connection: OnceCell<Connection>,
}

impl SpinPostgres {
    pub fn new(address: String) -> Self {
        SpinPostgres {
            address,
            connection: OnceCell::new(),
        }
    }

    fn connection(&self) -> Result<&Connection, DbError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open(&self.address).map_err(describe)?;
        Ok(self.connection.get_or_init(|| connection))
    }
}

impl Db for SpinPostgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(parameter).collect();
        let rows = self
            .connection()?
            .query(statement, &params)
            .map_err(describe)?;
        rows_of(rows)
    }

    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(parameter).collect();
        self.connection()?
            .execute(statement, &params)
            .map_err(describe)
    }
}

/// Ids travel as text and are cast in SQL (`$1::text::uuid`): Spin binds a
/// string parameter only to text.
fn parameter(value: &Value) -> ParameterValue {
    match value {
        Value::Null => ParameterValue::DbNull,
        Value::Int(n) => ParameterValue::Int64(*n),
        Value::Real(x) => ParameterValue::Floating64(*x),
        Value::Text(s) => ParameterValue::Str(s.clone()),
        Value::Bool(b) => ParameterValue::Boolean(*b),
        Value::Bytes(b) => ParameterValue::Binary(b.clone()),
    }
}

/// Spin's error, classified; the log gets the SQLSTATE and message, never
/// the statement or its parameters.
fn describe(error: PgError) -> DbError {
    match error {
        PgError::QueryFailed(QueryError::DbError(db)) => {
            DbError::from_sqlstate(&db.code, &db.message)
        }
        PgError::QueryFailed(QueryError::Text(text)) => {
            DbError::from_text(format!("query failed: {text}"))
        }
        PgError::ConnectionFailed(text) => DbError::other(format!("connection failed: {text}")),
        PgError::BadParameter(text) => DbError::other(format!("bad parameter: {text}")),
        PgError::ValueConversionFailed(text) => {
            DbError::other(format!("value conversion failed: {text}"))
        }
        PgError::Other(text) => DbError::other(text),
    }
}

fn rows_of(rows: RowSet) -> Result<Rows, DbError> {
    let columns = rows.columns.into_iter().map(|c| c.name).collect();
    let rows = rows
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(value).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()?;
    Ok(Rows { columns, rows })
}

fn value(value: DbValue) -> Result<Value, DbError> {
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
            return Err(DbError::other(format!(
                "a column has unexpected type {kind}"
            )));
        }
    })
}
