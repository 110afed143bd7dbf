//! The versioned schema, end to end: databases made by the previous release
//! (both backends, including one the component created by itself) upgrade
//! with every row intact; instances started together on an empty database
//! all serve; an edited, already-applied migration is refused with a clear
//! log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// A migration file of `migrations/<dir>`.
fn migration_file(dir: &str, name: &str) -> String {
    std::fs::read_to_string(repo_root().join("migrations").join(dir).join(name)).unwrap()
}

/// The statements of a file, as the first releases' runner (refinery) or
/// component applied them.
fn apply_file(db: &TestDb, dir: &str, name: &str) {
    let sql = migration_file(dir, name);
    match db.backend {
        Backend::Postgres => db.client().batch_execute(&sql).unwrap(),
        Backend::Sqlite => db.sqlite().execute_batch(&sql).unwrap(),
    }
}

/// What the previous release left in PostgreSQL after `make migrate`:
/// refinery's history of the given versions and their tables.
fn previous_release_postgres(files: &[&str]) -> TestDb {
    let db = TestDb::create_postgres();
    db.client()
        .batch_execute(
            "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, \
               name varchar(255), applied_on varchar(255), checksum varchar(255))",
        )
        .unwrap();
    for (i, file) in files.iter().enumerate() {
        apply_file(&db, "postgres", file);
        db.client()
            .execute(
                "INSERT INTO refinery_schema_history VALUES ($1, $2, '2026-11-29', '0')",
                &[&(i as i32 + 1), &file.to_string()],
            )
            .unwrap();
    }
    db
}

/// A user the previous release registered, with its password hash, and a
/// session whose refresh token is `refresh_token`.
fn insert_old_user(db: &TestDb, email: &str, refresh_token: &str) {
    let hash = spin_auth::auth::passwords::hash(PASSWORD).unwrap();
    let digest: Vec<u8> = spin_auth::auth::refresh::digest(refresh_token);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let (user_id, session_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    match db.backend {
        Backend::Postgres => db.execute(&format!(
            "WITH u AS (INSERT INTO users (id, name, email, password) \
               VALUES ('{user_id}', 'Old Timer', '{email}', '{hash}') RETURNING id) \
             INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, absolute_expires_at) \
             SELECT '{session_id}', id, '\\x{hex}'::bytea, now() + interval '1 hour', \
               now() + interval '1 day' FROM u"
        )),
        Backend::Sqlite => {
            let now = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";
            db.execute(&format!(
                "INSERT INTO users (id, name, email, password, verified, role, created_at, updated_at) \
                 VALUES ('{user_id}', 'Old Timer', '{email}', '{hash}', 1, 'user', {now}, {now})"
            ));
            db.execute(&format!(
                "INSERT INTO sessions (id, user_id, refresh_token_hash, generation, created_at, \
                   last_used_at, expires_at, absolute_expires_at) \
                 VALUES ('{session_id}', '{user_id}', X'{hex}', 0, {now}, {now}, \
                   {now} + 3600000000, {now} + 86400000000)"
            ))
        }
    };
}

/// The old user still logs in, and its old session still refreshes.
fn assert_old_user_served(service: &Service, email: &str, refresh_token: &str) {
    let client = service.plain();
    let login = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    assert_eq!(login.status(), 200, "{}", service.logs());
    let refresh = client
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(refresh_token)
        .send()
        .unwrap();
    assert_eq!(refresh.status(), 200, "{}", service.logs());
}

/// Every version of a backend's migrations, as `recorded_versions` says them.
fn all_versions(backend: Backend) -> String {
    let dir = match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    let count = std::fs::read_dir(repo_root().join("migrations").join(dir))
        .unwrap()
        .count();
    (1..=count)
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn recorded_versions(db: &TestDb) -> String {
    db.query_text(
        "SELECT coalesce(string_agg(CAST(version AS text), ',' ORDER BY version), '') \
         FROM schema_migrations",
    )
}

fn runner_migrate(db: &TestDb) -> std::process::Output {
    Command::new(runner_binary())
        .current_dir(repo_root())
        .args(["migrate", "--database-url", &db.url()])
        .args(db.runner_args())
        .output()
        .unwrap()
}

#[test]
fn a_postgres_database_of_the_previous_release_upgrades_by_itself_with_every_row_intact() {
    // Migrated to V3 by an older runner, never migrated since: the
    // component applies V4 by itself on the first request that needs it.
    let db = previous_release_postgres(&[
        "V1__users.sql",
        "V2__sessions.sql",
        "V3__login_throttling.sql",
    ]);
    insert_old_user(&db, "old@example.com", "old-refresh-token");
    let service = Service::builder().on(db).start();
    assert_old_user_served(&service, "old@example.com", "old-refresh-token");
    assert_eq!(
        recorded_versions(&service.db),
        all_versions(Backend::Postgres)
    );
    assert_eq!(service.db.query_i64("SELECT count(*) FROM users"), 1);
    assert!(
        service.logs().contains("schema is behind"),
        "{}",
        service.logs()
    );
}

#[test]
fn make_migrate_adopts_the_previous_releases_postgres_history() {
    let db = previous_release_postgres(&[
        "V1__users.sql",
        "V2__sessions.sql",
        "V3__login_throttling.sql",
        "V4__login_throttle.sql",
    ]);
    insert_old_user(&db, "kept@example.com", "kept-refresh-token");
    let output = runner_migrate(&db);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(recorded_versions(&db), all_versions(Backend::Postgres));
    let service = Service::builder().on(db).start();
    assert_old_user_served(&service, "kept@example.com", "kept-refresh-token");
}

#[test]
fn an_sqlite_database_the_previous_component_created_by_itself_upgrades_with_every_row_intact() {
    // The first SQLite release created its tables on first use and kept no
    // schema history at all.
    let db = TestDb::create_sqlite();
    std::fs::create_dir_all(db.sqlite_path().parent().unwrap()).unwrap();
    apply_file(&db, "sqlite", "V1__schema.sql");
    insert_old_user(&db, "early@example.com", "early-refresh-token");
    let output = runner_migrate(&db);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(recorded_versions(&db), all_versions(Backend::Sqlite));
    let service = Service::builder().on(db).start();
    assert_old_user_served(&service, "early@example.com", "early-refresh-token");
    assert_eq!(service.db.query_i64("SELECT count(*) FROM sessions"), 2);
}

#[test]
fn instances_started_together_on_an_empty_database_all_serve() {
    let db = TestDb::create();
    if db.backend == Backend::Sqlite {
        std::fs::create_dir_all(db.sqlite_path().parent().unwrap()).unwrap();
    }
    let first = Service::builder().on(db).start();
    let second = first.replica().start();
    let services = [&first, &second];
    // Eight registrations at once, four per instance, on a database
    // without a single table: each instance migrates or waits for the
    // other; a 503 (with Retry-After) is allowed only while one migrates.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let service = services[i % 2];
                scope.spawn(move || {
                    let email = format!("racer{i}@example.com");
                    for _ in 0..20 {
                        let response = post_json(
                            &service.plain(),
                            &service.url("/api/auth/register"),
                            &register_body(&email),
                        );
                        if response.status() != 503 {
                            return response.status().as_u16();
                        }
                        assert!(response.headers().contains_key("retry-after"));
                        std::thread::sleep(std::time::Duration::from_millis(500));
                    }
                    503
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses, [201; 8], "{}\n{}", first.logs(), second.logs());
    assert_eq!(recorded_versions(&first.db), all_versions(first.db.backend));
    assert_eq!(first.db.query_i64("SELECT count(*) FROM users"), 8);
}

#[test]
fn an_edited_applied_migration_is_refused_with_a_log_line_naming_it() {
    let db = TestDb::create();
    migrate(&db);
    db.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
    let first = match db.backend {
        Backend::Postgres => "V1__users",
        Backend::Sqlite => "V1__schema",
    };
    // `make migrate` refuses...
    let output = runner_migrate(&db);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "migration {first} was changed after it was applied"
        )),
        "{stderr}"
    );
    // ...and so does the component when it finds the schema behind (here:
    // a table gone), with a 503 and the same reason in its log.
    db.execute("DROP TABLE login_throttle");
    let service = Service::builder().on(db).start();
    let login = post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": "a@example.com", "password": PASSWORD}),
    );
    assert_eq!(login.status(), 503);
    let logs = service.logs();
    assert!(
        logs.contains(&format!(
            "migration {first} was changed after it was applied"
        )),
        "{logs}"
    );
}
