//! Result rows as both backends hand them to the store: each backend turns
//! its driver's values into [`Value`] and reads them with [`Row`], so the
//! column-by-name reading (and the one place that builds a [`User`]) is
//! shared and unit tested natively.

use super::User;
use crate::error::StoreError;

/// A column value, whatever the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Bool(_) => "boolean",
            Value::Bytes(_) => "bytes",
        }
    }
}

/// One result row, read by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Vec<String>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Vec<String>, values: Vec<Value>) -> Row {
        Row { columns, values }
    }

    fn value(&self, column: &str) -> Result<&Value, StoreError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Unavailable(format!("column {column} missing")))
    }

    pub fn is_null(&self, column: &str) -> Result<bool, StoreError> {
        Ok(matches!(self.value(column)?, Value::Null))
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(unexpected(column, other)),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?.ok_or_else(|| null(column))
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            other => Err(unexpected(column, other)),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.opt_int(column)?.ok_or_else(|| null(column))
    }

    pub fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            other => Err(unexpected(column, other)),
        }
    }

    /// A boolean; SQLite has none and answers 0 or 1.
    pub fn boolean(&self, column: &str) -> Result<bool, StoreError> {
        match self.value(column)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            other => Err(unexpected(column, other)),
        }
    }

    /// The user of the backends' user columns (`user_id`, `name`, `email`,
    /// `password`, `photo`, `role`, `verified`, `created_us`, `updated_us`),
    /// or `None` when a join found no user.
    pub fn user(&self) -> Result<Option<User>, StoreError> {
        if self.is_null("user_id")? {
            return Ok(None);
        }
        Ok(Some(User {
            id: self.text("user_id")?,
            name: self.text("name")?,
            email: self.text("email")?,
            password_hash: self.text("password")?,
            photo: self.opt_text("photo")?,
            role: self.text("role")?,
            verified: self.boolean("verified")?,
            disabled: self.boolean("disabled")?,
            created_at_us: self.int("created_us")?,
            updated_at_us: self.int("updated_us")?,
        }))
    }
}

fn null(column: &str) -> StoreError {
    StoreError::Unavailable(format!("column {column} is null"))
}

fn unexpected(column: &str, value: &Value) -> StoreError {
    StoreError::Unavailable(format!(
        "column {column} has unexpected type {}",
        value.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_row(id: Value, verified: Value) -> Row {
        let columns = [
            "user_id",
            "name",
            "email",
            "password",
            "photo",
            "role",
            "verified",
            "disabled",
            "created_us",
            "updated_us",
        ];
        Row::new(
            columns.iter().map(|c| c.to_string()).collect(),
            vec![
                id,
                Value::Text("Ann".into()),
                Value::Text("ann@example.com".into()),
                Value::Text("$argon2id$...".into()),
                Value::Null,
                Value::Text("user".into()),
                verified,
                Value::Bool(false),
                Value::Int(1),
                Value::Int(2),
            ],
        )
    }

    #[test]
    fn reads_a_user_with_a_postgres_or_a_sqlite_boolean() {
        for verified in [Value::Bool(true), Value::Int(1)] {
            let user = user_row(Value::Text("u1".into()), verified)
                .user()
                .unwrap()
                .unwrap();
            assert_eq!(user.id, "u1");
            assert_eq!(user.photo, None);
            assert!(user.verified);
            assert_eq!((user.created_at_us, user.updated_at_us), (1, 2));
        }
        let unverified = user_row(Value::Text("u1".into()), Value::Int(0));
        assert!(!unverified.user().unwrap().unwrap().verified);
    }

    #[test]
    fn a_null_user_id_is_no_user() {
        assert_eq!(user_row(Value::Null, Value::Null).user().unwrap(), None);
    }

    #[test]
    fn wrong_types_and_missing_columns_are_errors_that_name_the_column() {
        let row = Row::new(vec!["n".into()], vec![Value::Text("x".into())]);
        let StoreError::Unavailable(message) = row.int("n").unwrap_err() else {
            panic!("expected Unavailable");
        };
        assert_eq!(message, "column n has unexpected type text");
        let StoreError::Unavailable(message) = row.text("absent").unwrap_err() else {
            panic!("expected Unavailable");
        };
        assert_eq!(message, "column absent missing");
        let nulls = Row::new(vec!["n".into()], vec![Value::Null]);
        assert!(nulls.int("n").is_err());
        assert_eq!(nulls.opt_int("n").unwrap(), None);
    }
}
