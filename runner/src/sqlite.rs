//! The `spin:sqlite/sqlite@3.0.0` host, as Spin provides it locally: each
//! database label is one SQLite file (`default` is `<state dir>/sqlite_db.db`,
//! others come from the runtime config's `[sqlite_database.<label>]`), a
//! component may open only the labels its `sqlite_databases` lists, each
//! `execute` runs one statement (what follows the first is ignored), and
//! every failure reaches the guest as `error::io(message)`, as in Spin.
//!
//! Unlike Spin, which opens a file per guest connection, the runner keeps
//! idle connections per database and reuses them (with their statement
//! caches) across requests; each is in WAL mode with a busy timeout, so
//! readers never wait for the writer and writers queue instead of failing.

// The WIT `error` variant is what every function returns (as in Spin).
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::types::{Value as SqlValue, ValueRef};

use crate::bindings::sqlite::{Error, QueryResult, RowResult, Value};

/// The file of the `default` database in the state directory (as Spin).
pub const DEFAULT_DATABASE_FILE: &str = "sqlite_db.db";
/// A writer waits this long for another to finish before `database is locked`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per database.
const MAX_IDLE: usize = 16;
/// Prepared statements cached per connection (the store uses about 15).
const STATEMENT_CACHE: usize = 64;

/// Where each database label lives: `default` in the state directory unless
/// the runtime config says otherwise.
pub fn database_paths(
    configured: &HashMap<String, PathBuf>,
    state_dir: &Path,
) -> HashMap<String, PathBuf> {
    let mut paths = configured.clone();
    paths
        .entry("default".to_owned())
        .or_insert_with(|| state_dir.join(DEFAULT_DATABASE_FILE));
    paths
}

/// Spin refuses to start an app whose component names a database that has
/// no configuration.
pub fn check_labels(
    component: &str,
    labels: &[String],
    paths: &HashMap<String, PathBuf>,
) -> Result<()> {
    for label in labels {
        if !paths.contains_key(label) {
            bail!(
                "component `{component}` uses SQLite database `{label}`, which is not defined: \
                 add [sqlite_database.{label}] to the runtime config"
            );
        }
    }
    Ok(())
}

/// Opens a database file the way the runner uses it: the parent directory
/// created, WAL mode, a busy timeout.
pub fn open_file(path: &Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    if let Some(parent) = path.parent() {
        // An unwritable parent shows up as the open error below.
        let _ = std::fs::create_dir_all(parent);
    }
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // A read-only or corrupt file fails here, at open. (A file system
    // without WAL support answers with the mode it keeps, and that is fine.)
    connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
    // With WAL, NORMAL keeps the database consistent on power loss (the last
    // commits may be lost) and spares an fsync per write.
    connection.execute_batch("PRAGMA synchronous = NORMAL")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

struct Database {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Database {
    fn checkout(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        if let Some(connection) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(connection);
        }
        open_file(&self.path)
    }

    /// Keeps a connection for the next request, unless the guest left a
    /// transaction open on it (then it is dropped, which rolls it back).
    fn checkin(&self, connection: rusqlite::Connection) {
        if !connection.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
    }
}

/// Shared by all requests.
pub struct SqliteHost {
    databases: HashMap<String, Arc<Database>>,
    allowed: HashSet<String>,
}

/// A guest's open connection, back to its database's idle list on drop.
pub struct SqliteConnection {
    connection: Option<rusqlite::Connection>,
    database: Arc<Database>,
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.database.checkin(connection);
        }
    }
}

impl SqliteHost {
    pub fn new(paths: HashMap<String, PathBuf>, allowed: &[String]) -> Self {
        let databases = paths
            .into_iter()
            .map(|(label, path)| {
                let database = Database {
                    path,
                    idle: Mutex::new(Vec::new()),
                };
                (label, Arc::new(database))
            })
            .collect();
        SqliteHost {
            databases,
            allowed: allowed.iter().cloned().collect(),
        }
    }

    /// `connection.open(database)`.
    pub fn open(&self, label: &str) -> Result<SqliteConnection, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        let database = self.databases.get(label).ok_or(Error::NoSuchDatabase)?;
        let connection = tokio::task::block_in_place(|| database.checkout())
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", database.path.display())))?;
        Ok(SqliteConnection {
            connection: Some(connection),
            database: database.clone(),
        })
    }

    /// `connection.execute(statement, parameters)`.
    pub fn execute(
        &self,
        connection: &SqliteConnection,
        statement: &str,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let connection = connection
            .connection
            .as_ref()
            .ok_or(Error::InvalidConnection)?;
        tokio::task::block_in_place(|| run_statement(connection, statement, parameters))
            .map_err(|e| Error::Io(e.to_string()))
    }

    pub fn changes(&self, connection: &SqliteConnection) -> u64 {
        connection.connection.as_ref().map_or(0, |c| c.changes())
    }

    pub fn last_insert_rowid(&self, connection: &SqliteConnection) -> i64 {
        connection
            .connection
            .as_ref()
            .map_or(0, |c| c.last_insert_rowid())
    }
}

/// Runs one statement, as Spin's host does: prepared (cached), all rows read.
fn run_statement(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, rusqlite::Error> {
    let mut prepared = connection.prepare_cached(statement)?;
    let columns: Vec<String> = prepared
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = columns.len();
    let parameters = parameters.into_iter().map(|value| match value {
        Value::Null => SqlValue::Null,
        Value::Integer(n) => SqlValue::Integer(n),
        Value::Real(x) => SqlValue::Real(x),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    });
    let mut rows = prepared.query(rusqlite::params_from_iter(parameters))?;
    let mut result = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..width)
            .map(|i| row.get_ref(i).map(guest_value))
            .collect::<Result<_, _>>()?;
        result.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: result,
    })
}

fn guest_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// `spin up --sqlite`: statements (or `@file`s of them) run on the default
/// database before serving, as Spin does.
pub fn run_startup_statements(path: &Path, statements: &[String], base: &Path) -> Result<()> {
    if statements.is_empty() {
        return Ok(());
    }
    let connection =
        open_file(path).with_context(|| format!("opening SQLite database {}", path.display()))?;
    for statement in statements {
        let sql = match statement.strip_prefix('@') {
            Some(file) => {
                let file = base.join(file);
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading --sqlite file {}", file.display()))?
            }
            None => statement.clone(),
        };
        connection
            .execute_batch(&sql)
            .with_context(|| format!("--sqlite {statement:?} failed"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(dir: &Path) -> SqliteHost {
        let paths = database_paths(&HashMap::new(), dir);
        SqliteHost::new(paths, &["default".to_owned()])
    }

    fn exec(host: &SqliteHost, c: &SqliteConnection, sql: &str, params: Vec<Value>) -> QueryResult {
        host.execute(c, sql, params).expect(sql)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn default_lives_in_the_state_dir_in_wal_mode_and_round_trips_values() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let c = host.open("default").unwrap();
        assert!(dir.path().join(DEFAULT_DATABASE_FILE).exists());
        let mode = exec(&host, &c, "PRAGMA journal_mode", vec![]);
        assert_eq!(mode.rows[0].values, vec![Value::Text("wal".into())]);
        exec(
            &host,
            &c,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)",
            vec![],
        );
        let values = vec![
            Value::Integer(-7),
            Value::Real(1.5),
            Value::Text("é".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
        ];
        exec(
            &host,
            &c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            values.clone(),
        );
        assert_eq!(host.changes(&c), 1);
        assert_eq!(host.last_insert_rowid(&c), 1);
        let result = exec(&host, &c, "SELECT * FROM t", vec![]);
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(result.rows, vec![RowResult { values }]);
        let none = exec(&host, &c, "SELECT * FROM t WHERE i = 0", vec![]);
        assert_eq!((none.columns.len(), none.rows.len()), (5, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn labels_outside_sqlite_databases_are_denied_and_unknown_ones_missing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = database_paths(&HashMap::new(), dir.path());
        let host = SqliteHost::new(paths, &["default".to_owned(), "other".to_owned()]);
        assert_eq!(host.open("secret").err(), Some(Error::AccessDenied));
        assert_eq!(host.open("other").err(), Some(Error::NoSuchDatabase));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn errors_are_io_text_and_one_call_runs_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let c = host.open("default").unwrap();
        let Err(Error::Io(message)) = host.execute(&c, "SELEKT 1", vec![]) else {
            panic!("expected an io error");
        };
        assert!(message.contains("syntax error"), "{message}");
        // Like Spin's rusqlite `prepare`, only the first statement runs.
        let first = exec(&host, &c, "SELECT 1; SELECT 2", vec![]);
        assert_eq!(
            first.rows,
            vec![RowResult {
                values: vec![Value::Integer(1)]
            }]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_corrupt_file_fails_at_open_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DEFAULT_DATABASE_FILE), vec![7u8; 8192]).unwrap();
        let Err(Error::Io(message)) = host(dir.path()).open("default") else {
            panic!("a corrupt file must not open");
        };
        assert!(message.contains("not a database"), "{message}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn connections_are_reused_but_not_with_an_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let c = host.open("default").unwrap();
        exec(&host, &c, "CREATE TABLE t (x INTEGER)", vec![]);
        exec(&host, &c, "BEGIN", vec![]);
        exec(&host, &c, "INSERT INTO t VALUES (1)", vec![]);
        drop(c);
        // The abandoned transaction was rolled back, and its lock released.
        let c = host.open("default").unwrap();
        exec(&host, &c, "INSERT INTO t VALUES (2)", vec![]);
        let rows = exec(&host, &c, "SELECT x FROM t", vec![]).rows;
        assert_eq!(
            rows,
            vec![RowResult {
                values: vec![Value::Integer(2)]
            }]
        );
    }

    #[test]
    fn undefined_labels_stop_the_app() {
        let paths = database_paths(&HashMap::new(), Path::new("/state"));
        assert_eq!(paths["default"], Path::new("/state/sqlite_db.db"));
        assert!(check_labels("auth", &["default".into()], &paths).is_ok());
        let error = check_labels("auth", &["audit".into()], &paths).unwrap_err();
        assert!(
            error.to_string().contains("[sqlite_database.audit]"),
            "{error}"
        );
    }

    #[test]
    fn startup_statements_run_in_order_from_text_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("schema.sql"),
            "CREATE TABLE t (x); CREATE TABLE u (y);",
        )
        .unwrap();
        let db = dir.path().join("db.sqlite");
        let statements = [
            "@schema.sql".to_owned(),
            "INSERT INTO t VALUES (1)".to_owned(),
        ];
        run_startup_statements(&db, &statements, dir.path()).unwrap();
        let connection = open_file(&db).unwrap();
        let count: i64 = connection
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
        assert!(run_startup_statements(&db, &["@missing.sql".into()], dir.path()).is_err());
    }
}
