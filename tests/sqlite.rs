//! The SQLite backend's own behaviour, whatever backend the rest of the
//! suite runs on: the schema matches Postgres', the zero-setup default
//! works, and faults (a corrupt file, a locked database) are a clear 503
//! with a log line that loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;

/// (table, column, NOT NULL) of every application table.
type Columns = BTreeSet<(String, String, bool)>;

fn postgres_columns(db: &TestDb) -> Columns {
    db.client()
        .query(
            "SELECT table_name::text, column_name::text, is_nullable = 'NO' \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> 'refinery_schema_history'",
            &[],
        )
        .expect("read the Postgres schema")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// SQLite's own mechanism, with no PostgreSQL twin: the always-empty tables
/// whose triggers apply a credential change and a two-factor change
/// (PostgreSQL does the same with writable CTEs).
const SQLITE_ONLY_TABLES: &[&str] = &["account_changes", "mfa_changes"];

fn sqlite_columns(db: &TestDb) -> Columns {
    let connection = db.sqlite();
    let mut statement = connection
        .prepare(
            "SELECT m.name, c.name, c.\"notnull\" FROM sqlite_schema m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name <> 'refinery_schema_history'",
        )
        .expect("read the SQLite schema");
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("schema rows");
    rows.map(|row| row.expect("schema row")).collect()
}

#[test]
fn the_sqlite_and_postgres_migrations_give_the_same_tables_and_columns() {
    let postgres = TestDb::create_postgres();
    migrate(&postgres);
    let sqlite = TestDb::create_sqlite();
    migrate(&sqlite);
    let expected = postgres_columns(&postgres);
    assert!(expected.len() > 20, "{expected:?}");
    let shared = |columns: Columns| -> Columns {
        let (own, shared): (Columns, Columns) = columns
            .into_iter()
            .partition(|(table, _, _)| SQLITE_ONLY_TABLES.contains(&table.as_str()));
        assert!(!own.is_empty(), "the SQLite-only tables exist");
        shared
    };
    assert_eq!(shared(sqlite_columns(&sqlite)), expected);
    // Applying them again changes nothing.
    migrate(&sqlite);
    assert_eq!(shared(sqlite_columns(&sqlite)), expected);
}

#[test]
fn with_nothing_configured_the_default_sqlite_database_lives_in_dot_spin() {
    // The app as a newcomer has it: spin.toml's defaults, no --state-dir.
    let app = tempfile::tempdir().unwrap();
    std::fs::copy(repo_root().join("spin.toml"), app.path().join("spin.toml")).unwrap();
    std::os::unix::fs::symlink(repo_root().join("target"), app.path().join("target")).unwrap();
    let manifest = app.path().join("spin.toml").display().to_string();
    let migrated = std::process::Command::new(runner_binary())
        .args(["migrate", "--from", &manifest])
        .env_remove("SPIN_VARIABLE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let db = TestDb::sqlite_in_app_dir(app.path());
    assert!(db.sqlite_path().exists());
    let service = Service::builder()
        .on(db)
        .arg("--from")
        .arg(&manifest)
        .start();
    let client = service.browser();
    let (email, _, _) = register_and_login(&service, &client);
    let me = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        service.db.query_i64(&format!(
            "SELECT count(*) FROM users WHERE email = '{email}'"
        )),
        1
    );
}

#[test]
fn a_corrupt_database_file_is_503_with_a_log_line_and_health_stays_up() {
    let db = TestDb::create_sqlite();
    std::fs::write(db.sqlite_path(), vec![0x5a; 16 * 1024]).unwrap();
    let service = Service::builder().on(db).start();
    assert_database_fault_is_503(&service, "not a database");
}

#[test]
fn a_locked_database_is_503_after_the_busy_timeout_and_nothing_is_half_written() {
    let db = TestDb::create_sqlite();
    migrate(&db);
    let service = Service::builder().on(db).start();
    let client = service.browser();
    let (email, _, _) = register_and_login(&service, &client);

    // Another process holds the write lock for longer than the busy timeout.
    let holder = service.db.sqlite();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let blocked = unique_email("blocked");
    let response = post_json(
        &client,
        &service.url("/api/auth/register"),
        &register_body(&blocked),
    );
    assert_eq!(response.status(), 503);
    assert!(service.logs().contains("locked"), "{}", service.logs());
    // Readers are not blocked by a writer (WAL).
    let me = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(me.status(), 200);
    // A refresh (a write) fails whole: the old token still works afterwards.
    assert_eq!(refresh_status(&service, &client), 503);
    holder.execute_batch("ROLLBACK").unwrap();

    assert_eq!(refresh_status(&service, &client), 200);
    let response = post_json(
        &client,
        &service.url("/api/auth/register"),
        &register_body(&blocked),
    );
    assert_eq!(response.status(), 201);
    let users = service.db.query_i64(&format!(
        "SELECT count(*) FROM users WHERE email IN ('{email}', '{blocked}')"
    ));
    assert_eq!(users, 2);
}

/// Clears the immutable attribute again, so the temporary directory can go.
struct Immutable(std::path::PathBuf, #[allow(dead_code)] Arc<TestDb>);

impl Immutable {
    /// Makes the service's SQLite file immutable until the guard drops. The
    /// guard keeps the database (its temporary directory) alive, so that the
    /// attribute is cleared before the directory is removed.
    fn set(db: Arc<TestDb>) -> Immutable {
        let path = db.sqlite_path();
        // Root (the tests' user) ignores file permissions; the immutable
        // attribute binds root too.
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .expect("chattr (e2fsprogs) is needed to make a file read-only for root");
        assert!(status.success(), "chattr +i {}", path.display());
        Immutable(path, db)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_read_only_database_file_is_503_with_a_log_line() {
    let db = TestDb::create_sqlite();
    migrate(&db);
    let service = Service::builder().on(db).start();
    // Before the first request: the runner opens the file on first use.
    let _read_only = Immutable::set(service.db.clone());
    assert_database_fault_is_503(&service, "readonly");
}

#[test]
fn an_unmigrated_sqlite_database_gets_its_tables_on_first_use() {
    // `spin up` or `spin cloud deploy` with no migration step: the first
    // request that needs a table creates the schema.
    let service = Service::builder().on(TestDb::create_sqlite()).start();
    let client = service.browser();
    register_and_login(&service, &client);
    let me = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(refresh_status(&service, &client), 200);
    assert!(
        service.logs().contains("created them"),
        "{}",
        service.logs()
    );
    assert_eq!(service.db.query_i64("SELECT count(*) FROM users"), 1);
}
