//! The store's SQL, both dialects, against real databases: an SQLite
//! in-memory database (rusqlite, the engine Spin embeds) with a clock the
//! test moves, and a fresh database on the PostgreSQL server of
//! 127.0.0.1:5432 (dropped afterwards), whose clock "moves" by shifting
//! every stored instant back. Each test runs on both.

use std::cell::Cell;

use super::db::native::{NativePostgres, NativeSqlite};
use super::db::{Db, DbError, Dialect, Rows};
use super::row::Value;
use super::*;

const ADMIN_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

enum NativeDb {
    Postgres(NativePostgres),
    Sqlite(NativeSqlite),
}

impl Db for NativeDb {
    fn dialect(&self) -> Dialect {
        match self {
            NativeDb::Postgres(db) => db.dialect(),
            NativeDb::Sqlite(db) => db.dialect(),
        }
    }
    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        match self {
            NativeDb::Postgres(db) => db.query(statement, params),
            NativeDb::Sqlite(db) => db.query(statement, params),
        }
    }
    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            NativeDb::Postgres(db) => db.execute(statement, params),
            NativeDb::Sqlite(db) => db.execute(statement, params),
        }
    }
}

const NO_CLIENT: Client = Client {
    ip: None,
    user_agent: None,
};

thread_local! {
    static NOW_US: Cell<i64> = const { Cell::new(1_800_000_000_000_000) };
}

fn test_clock() -> i64 {
    NOW_US.with(Cell::get)
}

/// A migrated database of one dialect, dropped with the value.
struct TestStore {
    store: SqlStore<NativeDb>,
    pg_database: Option<String>,
}

impl TestStore {
    fn sqlite() -> TestStore {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let store =
            SqlStore::with_clock(NativeDb::Sqlite(NativeSqlite::new(connection)), test_clock);
        schema::upgrade(store.db()).unwrap();
        TestStore {
            store,
            pg_database: None,
        }
    }

    fn postgres() -> TestStore {
        let name = fresh_pg_database();
        let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={name}");
        let store = SqlStore::new(NativeDb::Postgres(NativePostgres::connect(&url).unwrap()));
        schema::upgrade(store.db()).unwrap();
        TestStore {
            store,
            pg_database: Some(name),
        }
    }

    fn dialect(&self) -> Dialect {
        self.store.db().dialect()
    }

    /// Lets `secs` seconds pass for the store.
    fn advance_secs(&self, secs: i64) {
        match self.store.db() {
            NativeDb::Sqlite(_) => NOW_US.with(|now| now.set(now.get() + secs * 1_000_000)),
            NativeDb::Postgres(db) => {
                for statement in [
                    "UPDATE users SET created_at = created_at - $1, updated_at = updated_at - $1, \
                       email_sends = ARRAY(SELECT s - $1 FROM unnest(email_sends) AS s)",
                    "UPDATE sessions SET created_at = created_at - $1, \
                       last_used_at = last_used_at - $1, expires_at = expires_at - $1, \
                       absolute_expires_at = absolute_expires_at - $1, \
                       revoked_at = revoked_at - $1",
                    "UPDATE retired_refresh_tokens SET retired_at = retired_at - $1",
                    "UPDATE security_events SET at = at - $1",
                    "UPDATE one_time_tokens SET created_at = created_at - $1, \
                       expires_at = expires_at - $1, spent_at = spent_at - $1",
                    "UPDATE mfa_factors SET created_at = created_at - $1, \
                       confirmed_at = confirmed_at - $1",
                    "UPDATE mfa_recovery_codes SET used_at = used_at - $1",
                    "UPDATE mfa_tokens SET created_at = created_at - $1, \
                       expires_at = expires_at - $1, spent_at = spent_at - $1",
                    "UPDATE login_throttle SET \
                       attempts = ARRAY(SELECT a - $1 FROM unnest(attempts) AS a ORDER BY a), \
                       locked_until = locked_until - $1, last_attempt_at = last_attempt_at - $1",
                ] {
                    let statement = statement.replace("$1", &format!("interval '{secs} seconds'"));
                    db.execute(&statement, &[]).unwrap();
                }
            }
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            drop_pg_database(name);
        }
    }
}

fn admin() -> NativePostgres {
    NativePostgres::connect(ADMIN_URL).expect("PostgreSQL must run on 127.0.0.1:5432")
}

fn fresh_pg_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "store_unit_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = admin();
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .unwrap();
    admin
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .unwrap();
    name
}

fn drop_pg_database(name: &str) {
    let _ = admin().execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[]);
}

/// Runs `test` on SQLite, then on PostgreSQL.
fn on_both(test: impl Fn(&TestStore)) {
    test(&TestStore::sqlite());
    test(&TestStore::postgres());
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        name: "Ann".into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        photo: None,
        verified: true,
    }
}

fn session(store: &impl Store, user: &User, digest: &[u8]) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    store
        .create_session(&NewSession {
            id: id.clone(),
            user_id: user.id.clone(),
            refresh_digest: digest.to_vec(),
            refresh_lifetime_secs: 3600,
            absolute_timeout_secs: 7200,
            amr: "pwd".into(),
            client: Client {
                ip: Some("192.0.2.7".into()),
                user_agent: Some("TestAgent/1.0".into()),
            },
            event_retention_secs: 86_400,
        })
        .unwrap();
    id
}

#[test]
fn an_email_registers_once_whatever_its_case() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("ann@example.com")).unwrap();
        assert_eq!(user.email, "ann@example.com");
        assert_eq!((user.role.as_str(), user.verified), ("user", true));
        assert_eq!(user.created_at_us, user.updated_at_us);
        assert_eq!(
            uuid::Uuid::parse_str(&user.id).unwrap().to_string(),
            user.id
        );
        if t.dialect() == Dialect::Sqlite {
            assert_eq!(user.created_at_us, test_clock());
        }
        for taken in ["ann@example.com", "ANN@example.com"] {
            assert_eq!(
                store.insert_user(&new_user(taken)),
                Err(StoreError::Conflict)
            );
        }
    });
}

#[test]
fn login_attempts_lock_the_email_for_the_window_then_lift() {
    on_both(|t| {
        let store = &t.store;
        store.insert_user(&new_user("bob@example.com")).unwrap();
        let throttle = Throttle {
            max_failures: 3,
            window_secs: 60,
        };
        for _ in 0..3 {
            let attempt = store
                .begin_login_attempt("bob@example.com", throttle)
                .unwrap();
            assert_eq!(attempt.locked_for_secs, None);
            assert_eq!(attempt.user.unwrap().email, "bob@example.com");
        }
        t.advance_secs(20);
        let refused = store
            .begin_login_attempt("bob@example.com", throttle)
            .unwrap();
        assert_eq!(refused.locked_for_secs, Some(40));
        t.advance_secs(41);
        let lifted = store
            .begin_login_attempt("bob@example.com", throttle)
            .unwrap();
        assert_eq!(lifted.locked_for_secs, None);
        // A success forgets the attempts; an unknown email is counted too.
        store.clear_login_attempts("bob@example.com").unwrap();
        for _ in 0..3 {
            store
                .begin_login_attempt("bob@example.com", throttle)
                .unwrap();
        }
        let nobody = store
            .begin_login_attempt("nobody@example.com", throttle)
            .unwrap();
        assert_eq!((nobody.user, nobody.locked_for_secs), (None, None));
    });
}

#[test]
fn attempts_outside_the_window_do_not_count() {
    on_both(|t| {
        let store = &t.store;
        let throttle = Throttle {
            max_failures: 2,
            window_secs: 10,
        };
        store
            .begin_login_attempt("c@example.com", throttle)
            .unwrap();
        t.advance_secs(11);
        // The first attempt fell out of the window: this is the first of
        // the new one, and the next reaches the limit and locks...
        for _ in 0..2 {
            let attempt = store
                .begin_login_attempt("c@example.com", throttle)
                .unwrap();
            assert_eq!(attempt.locked_for_secs, None);
        }
        // ...so the one after is refused for the window.
        let refused = store
            .begin_login_attempt("c@example.com", throttle)
            .unwrap();
        assert_eq!(refused.locked_for_secs, Some(10));
    });
}

#[test]
fn a_limit_of_one_locks_at_the_first_attempt() {
    on_both(|t| {
        let throttle = Throttle {
            max_failures: 1,
            window_secs: 30,
        };
        let first = t
            .store
            .begin_login_attempt("one@example.com", throttle)
            .unwrap();
        assert_eq!(first.locked_for_secs, None);
        let second = t
            .store
            .begin_login_attempt("one@example.com", throttle)
            .unwrap();
        assert_eq!(second.locked_for_secs, Some(30));
    });
}

#[test]
fn stale_throttle_rows_of_other_emails_are_pruned() {
    on_both(|t| {
        let throttle = Throttle {
            max_failures: 5,
            window_secs: 10,
        };
        t.store
            .begin_login_attempt("old@example.com", throttle)
            .unwrap();
        t.advance_secs(11);
        t.store
            .begin_login_attempt("new@example.com", throttle)
            .unwrap();
        let left = t
            .store
            .query("SELECT count(*) AS n FROM login_throttle", &[])
            .unwrap()
            .first()
            .unwrap()
            .int("n")
            .unwrap();
        assert_eq!(left, 1);
    });
}

#[test]
fn rotation_retires_the_old_token_once() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("d@example.com")).unwrap();
        let id = session(store, &user, b"old");
        t.advance_secs(5);
        let rotation = store
            .rotate_refresh_token(b"old", b"new", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(
            (rotation.session_id.as_str(), rotation.user_id.as_str()),
            (id.as_str(), user.id.as_str())
        );
        assert_eq!(rotation.user.map(|u| u.email), Some(user.email.clone()));
        // Capped by the absolute timeout: 7200 s after login, 5 s ago.
        assert_eq!(rotation.refresh_lifetime_secs, 3600);
        assert_eq!(
            store.rotate_refresh_token(b"old", b"newer", 3600).unwrap(),
            None
        );
        t.advance_secs(2);
        let retired = store.find_refresh_token(b"old").unwrap().unwrap();
        let age = retired.retired_ms_ago.unwrap();
        assert!((2000..2500).contains(&age), "{age}");
        assert!(retired.session_active);
        let current = store.find_refresh_token(b"new").unwrap().unwrap();
        assert_eq!((current.session_id, current.retired_ms_ago), (id, None));
        assert_eq!(store.find_refresh_token(b"unknown").unwrap(), None);
    });
}

#[test]
fn the_refresh_lifetime_is_capped_by_the_absolute_timeout() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("e@example.com")).unwrap();
        session(store, &user, b"t1");
        t.advance_secs(3000);
        let rotation = store
            .rotate_refresh_token(b"t1", b"t2", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(rotation.refresh_lifetime_secs, 3600);
        t.advance_secs(3000);
        let rotation = store
            .rotate_refresh_token(b"t2", b"t3", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(rotation.refresh_lifetime_secs, 1200);
        t.advance_secs(1201);
        assert_eq!(
            store.rotate_refresh_token(b"t3", b"t4", 3600).unwrap(),
            None
        );
        assert!(
            !store
                .find_refresh_token(b"t3")
                .unwrap()
                .unwrap()
                .session_active
        );
    });
}

#[test]
fn a_deleted_users_session_does_not_rotate_but_is_recognised() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("gone@example.com")).unwrap();
        session(store, &user, b"tok");
        store
            .execute(
                match t.dialect() {
                    Dialect::Postgres => "DELETE FROM users WHERE id = $1::text::uuid",
                    Dialect::Sqlite => "DELETE FROM users WHERE id = ?1",
                },
                &[text(&user.id)],
            )
            .unwrap();
        assert_eq!(
            store.rotate_refresh_token(b"tok", b"next", 60).unwrap(),
            None
        );
        let known = store.find_refresh_token(b"tok").unwrap().unwrap();
        assert_eq!((known.user, known.retired_ms_ago), (None, None));
        assert_eq!(known.user_id, user.id);
    });
}

#[test]
fn revocation_ends_sessions() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("f@example.com")).unwrap();
        let first = session(store, &user, b"a");
        let second = session(store, &user, b"b");
        let active = |id: &str| {
            store
                .user_with_session(&user.id, id)
                .unwrap()
                .session_active
        };
        assert!(active(&first));
        assert!(store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout, &NO_CLIENT)
            .unwrap());
        assert!(!store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout, &NO_CLIENT)
            .unwrap());
        assert!(!active(&first));
        assert_eq!(store.rotate_refresh_token(b"a", b"c", 60).unwrap(), None);
        // logout-all needs the caller's own session to be active...
        assert!(!store
            .revoke_all_sessions(&user.id, &first, &NO_CLIENT)
            .unwrap());
        assert!(active(&second));
        let third = session(store, &user, b"d");
        assert!(store
            .revoke_all_sessions(&user.id, &third, &NO_CLIENT)
            .unwrap());
        // ...and then ends every session, the caller's included.
        assert!(!active(&second) && !active(&third));
        assert!(!store
            .revoke_user_session(&user.id, &second, RevokeReason::Logout, &NO_CLIENT)
            .unwrap());
    });
}

#[test]
fn a_users_session_is_revoked_only_by_its_owner_while_live() {
    on_both(|t| {
        let store = &t.store;
        let owner = store.insert_user(&new_user("owner@example.com")).unwrap();
        let other = store.insert_user(&new_user("other@example.com")).unwrap();
        let id = session(store, &owner, b"s");
        assert!(!store
            .revoke_user_session(&other.id, &id, RevokeReason::Logout, &NO_CLIENT)
            .unwrap());
        assert!(store
            .revoke_user_session(&owner.id, &id, RevokeReason::Logout, &NO_CLIENT)
            .unwrap());
        // A reuse revokes whatever the state, and says nothing.
        let reused = session(store, &owner, b"r");
        store
            .revoke_known_session(&reused, RevokeReason::RefreshTokenReuse, &NO_CLIENT)
            .unwrap();
        store
            .revoke_known_session(&reused, RevokeReason::RefreshTokenReuse, &NO_CLIENT)
            .unwrap();
        assert!(
            !store
                .user_with_session(&owner.id, &reused)
                .unwrap()
                .session_active
        );
    });
}

#[test]
fn an_unknown_user_or_session_reads_as_absent() {
    on_both(|t| {
        let nobody = uuid::Uuid::new_v4().to_string();
        let found = t.store.user_with_session(&nobody, &nobody).unwrap();
        assert_eq!((found.user, found.session_active), (None, false));
    });
}

#[test]
fn old_sessions_are_pruned_with_their_retired_tokens() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("g@example.com")).unwrap();
        session(store, &user, b"x");
        store
            .rotate_refresh_token(b"x", b"y", 3600)
            .unwrap()
            .unwrap();
        t.advance_secs(3600 + 86_400 + 1);
        session(store, &user, b"z");
        assert_eq!(store.find_refresh_token(b"x").unwrap(), None);
        assert_eq!(store.find_refresh_token(b"y").unwrap(), None);
        assert!(store.find_refresh_token(b"z").unwrap().is_some());
    });
}

#[test]
fn a_password_hash_update_touches_updated_at() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("h@example.com")).unwrap();
        t.advance_secs(1);
        store
            .update_password_hash(&user.id, "$argon2id$new")
            .unwrap();
        session(store, &user, b"h");
        let after = store
            .rotate_refresh_token(b"h", b"h2", 60)
            .unwrap()
            .unwrap();
        let after = after.user.unwrap();
        assert_eq!(after.password_hash, "$argon2id$new");
        assert!(after.updated_at_us >= after.created_at_us + 1_000_000);
    });
}

#[test]
fn a_retired_tokens_age_is_rounded_and_never_negative_on_sqlite() {
    let t = TestStore::sqlite();
    let store = &t.store;
    let user = store.insert_user(&new_user("clock@example.com")).unwrap();
    session(store, &user, b"one");
    store
        .rotate_refresh_token(b"one", b"two", 3600)
        .unwrap()
        .unwrap();
    NOW_US.with(|now| now.set(now.get() + 1_499_600));
    let age = || {
        store
            .find_refresh_token(b"one")
            .unwrap()
            .unwrap()
            .retired_ms_ago
    };
    assert_eq!(age(), Some(1500));
    // Another instance whose clock is two seconds behind.
    NOW_US.with(|now| now.set(now.get() - 3_500_000));
    assert_eq!(age(), Some(0));
}

fn sqlite_connection(t: &TestStore) -> &rusqlite::Connection {
    match t.store.db() {
        NativeDb::Sqlite(db) => &db.connection,
        NativeDb::Postgres(_) => unreachable!("an SQLite test store"),
    }
}

#[test]
fn a_full_sqlite_database_is_unavailable() {
    let t = TestStore::sqlite();
    let sql = sqlite_connection(&t);
    let pages: i64 = sql
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    // A hard page limit, as a full disk would set one.
    sql.execute_batch(&format!("PRAGMA max_page_count = {pages}"))
        .unwrap();
    let error = (0..10_000).find_map(|n| {
        t.store
            .insert_user(&new_user(&format!("u{n}@example.com")))
            .err()
    });
    let Some(StoreError::Unavailable(message)) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("full"), "{message}");
}

#[test]
fn an_sqlite_rotation_that_cannot_retire_the_old_token_changes_nothing() {
    let t = TestStore::sqlite();
    let store = &t.store;
    let user = store.insert_user(&new_user("atomic@example.com")).unwrap();
    session(store, &user, b"current");
    // The trigger's half of the rotation fails (as a full disk would make
    // it): the UPDATE must not survive it.
    sqlite_connection(&t)
        .execute_batch(
            "CREATE TEMP TRIGGER fail_retire BEFORE INSERT ON retired_refresh_tokens \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        )
        .unwrap();
    assert!(matches!(
        store.rotate_refresh_token(b"current", b"next", 3600),
        Err(StoreError::Unavailable(_))
    ));
    let current = store.find_refresh_token(b"current").unwrap().unwrap();
    assert_eq!(current.retired_ms_ago, None);
    assert!(current.session_active);
    assert_eq!(store.find_refresh_token(b"next").unwrap(), None);
    sqlite_connection(&t)
        .execute_batch("DROP TRIGGER fail_retire")
        .unwrap();
    assert!(store
        .rotate_refresh_token(b"current", b"next", 3600)
        .unwrap()
        .is_some());
}

#[test]
fn a_postgres_query_that_would_find_nothing_still_returns_one_row() {
    // Real Spin 4.0.x hangs on a zero-row query: every lookup of the store
    // answers a row, with NULLs where nothing was found.
    let t = TestStore::postgres();
    let nobody = uuid::Uuid::new_v4().to_string();
    let rows = t
        .store
        .query(
            &format!(
                "SELECT {}, (s.id IS NOT NULL) AS session_active FROM (SELECT 1) AS one \
                 LEFT JOIN users u ON u.id = $1::text::uuid \
                 LEFT JOIN sessions s ON s.id = $1::text::uuid",
                users::user_columns(Dialect::Postgres, "u")
            ),
            &[text(&nobody)],
        )
        .unwrap();
    assert_eq!(rows.rows.len(), 1);
    assert_eq!(
        t.store.insert_user(&new_user("z@example.com")).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        t.store.insert_user(&new_user("z@example.com")),
        Err(StoreError::Conflict)
    );
}

// The versioned schema.

fn unmigrated(dialect: Dialect) -> (SqlStore<NativeDb>, Option<String>) {
    match dialect {
        Dialect::Sqlite => {
            let connection = rusqlite::Connection::open_in_memory().unwrap();
            let db = NativeDb::Sqlite(NativeSqlite::new(connection));
            (SqlStore::with_clock(db, test_clock), None)
        }
        Dialect::Postgres => {
            let name = fresh_pg_database();
            let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={name}");
            let db = NativeDb::Postgres(NativePostgres::connect(&url).unwrap());
            (SqlStore::new(db), Some(name))
        }
    }
}

fn on_both_unmigrated(test: impl Fn(&SqlStore<NativeDb>)) {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let (store, pg_database) = unmigrated(dialect);
        test(&store);
        drop(store);
        if let Some(name) = pg_database {
            drop_pg_database(&name);
        }
    }
}

fn apply_files(db: &impl Db, migrations: &[schema::Migration]) {
    for migration in migrations {
        for statement in schema::statements(migration.sql) {
            db.execute(&statement, &[]).unwrap();
        }
    }
}

#[test]
fn the_migration_lists_match_the_files_in_migrations() {
    for (dir, list) in [("postgres", schema::POSTGRES), ("sqlite", schema::SQLITE)] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort_by_key(|f| f[1..].split("__").next().unwrap().parse::<i64>().unwrap());
        let listed: Vec<String> = list.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(files, listed, "{dir}: add new files to schema.rs");
        for (i, migration) in list.iter().enumerate() {
            assert_eq!(migration.version, i as i64 + 1, "numbered without gaps");
            assert!(migration
                .name
                .starts_with(&format!("V{}__", migration.version)));
        }
    }
}

#[test]
fn schema_files_split_into_statements_triggers_whole() {
    let statements = schema::statements(schema::SQLITE[0].sql);
    let triggers: Vec<&String> = statements
        .iter()
        .filter(|s| s.starts_with("CREATE TRIGGER"))
        .collect();
    assert_eq!(triggers.len(), 2);
    assert!(triggers.iter().all(|t| t.ends_with("END")), "{triggers:?}");
    assert!(statements.iter().all(|s| !s.contains("--")));
    assert_eq!(
        schema::statements("CREATE TABLE a (x int); -- note\n\nCREATE INDEX i ON a (x);\n"),
        ["CREATE TABLE a (x int)", "CREATE INDEX i ON a (x)"]
    );
}

#[test]
fn a_statement_that_finds_no_schema_migrates_and_runs_again() {
    on_both_unmigrated(|store| {
        let user = store.insert_user(&new_user("first@example.com")).unwrap();
        assert_eq!(user.email, "first@example.com");
        let versions = schema::recorded_versions(store.db()).unwrap();
        let all: Vec<i64> = schema::migrations(store.db().dialect())
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(versions, all);
    });
}

#[test]
fn an_upgrade_applies_each_migration_once() {
    on_both_unmigrated(|store| {
        let first = schema::upgrade(store.db()).unwrap();
        assert_eq!(first.before, Vec::<i64>::new());
        assert_eq!(first.applied(), first.after);
        let again = schema::upgrade(store.db()).unwrap();
        assert_eq!(again.applied(), Vec::<i64>::new());
        assert_eq!(again.after, first.after);
    });
}

#[test]
fn an_edited_applied_migration_is_refused_naming_it() {
    on_both_unmigrated(|store| {
        schema::upgrade(store.db()).unwrap();
        store
            .execute(
                "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
                &[],
            )
            .unwrap();
        let Err(StoreError::Unavailable(message)) = schema::upgrade(store.db()) else {
            panic!("an edited migration must be refused");
        };
        let v1 = &schema::migrations(store.db().dialect())[0];
        let label = format!(
            "V1__{}",
            v1.name.trim_start_matches("V1__").trim_end_matches(".sql")
        );
        assert!(
            message.contains(&label) && message.contains("changed after it was applied"),
            "{message}"
        );
    });
}

#[test]
fn a_postgres_database_migrated_by_refinery_is_adopted_and_upgraded_with_its_rows() {
    let (store, name) = unmigrated(Dialect::Postgres);
    let db = store.db();
    // What the first releases' runner left: refinery's history of V1 to V3
    // (V4 came later), their tables, and a user with a session.
    db.execute(
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255),            applied_on varchar(255), checksum varchar(255))",
        &[],
    )
    .unwrap();
    apply_files(db, &schema::POSTGRES[..3]);
    for m in &schema::POSTGRES[..3] {
        db.execute(
            "INSERT INTO refinery_schema_history VALUES ($1::int8::int4, $2, '2026-11-01', '123')",
            &[Value::Int(m.version), text(m.name)],
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO users (name, email, password) VALUES ('Old', 'old@example.com', 'hash')",
        &[],
    )
    .unwrap();
    // The login path needs V4's table: the store migrates on its own.
    let attempt = store
        .begin_login_attempt(
            "old@example.com",
            Throttle {
                max_failures: 5,
                window_secs: 60,
            },
        )
        .unwrap();
    assert_eq!(attempt.user.unwrap().name, "Old");
    let all: Vec<i64> = schema::POSTGRES.iter().map(|m| m.version).collect();
    assert_eq!(schema::recorded_versions(db).unwrap(), all);
    drop(store);
    drop_pg_database(&name.unwrap());
}

#[test]
fn an_sqlite_database_the_component_created_without_history_is_upgraded_with_its_rows() {
    let (store, _) = unmigrated(Dialect::Sqlite);
    // The first release's component applied V1 itself and kept no history.
    apply_files(store.db(), &schema::SQLITE[..1]);
    // Inserted as that release did (the store of today also reads columns
    // of later versions, and would migrate on its own).
    store
        .db()
        .execute(
            "INSERT INTO users (id, name, email, password, verified, role, created_at, updated_at) \
             VALUES ('7d1e2f3a-0000-4000-8000-000000000001', 'Early', 'early@example.com', 'hash', \
               1, 'user', 1, 1)",
            &[],
        )
        .unwrap();
    let upgrade = schema::upgrade(store.db()).unwrap();
    let all: Vec<i64> = schema::SQLITE.iter().map(|m| m.version).collect();
    assert_eq!(upgrade.applied(), all);
    let found = store
        .user_with_session("7d1e2f3a-0000-4000-8000-000000000001", "none")
        .unwrap()
        .user
        .unwrap();
    assert_eq!(found.email, "early@example.com");
}

// Devices and security events.

fn kinds(store: &impl Store, user_id: &str) -> Vec<String> {
    store
        .list_events(user_id, None, 100, 86_400)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_session_keeps_its_device_and_its_login_is_an_event() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("dev@example.com")).unwrap();
        let first = session(store, &user, b"one");
        t.advance_secs(1);
        let second = session(store, &user, b"two");
        let sessions = store.list_sessions(&user.id).unwrap();
        let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
        assert_eq!(sessions[0].ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(sessions[0].user_agent.as_deref(), Some("TestAgent/1.0"));
        assert!(sessions[0].expires_at_us > sessions[0].last_used_at_us);
        let events = store.list_events(&user.id, None, 10, 86_400).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, "login");
        assert_eq!(events[0].session_id.as_deref(), Some(second.as_str()));
        assert_eq!(events[0].ip.as_deref(), Some("192.0.2.7"));
        assert!(events[0].id > events[1].id);
        // A revoked session is no longer listed.
        store
            .revoke_user_session(&user.id, &first, RevokeReason::SessionRevoked, &NO_CLIENT)
            .unwrap();
        assert_eq!(store.list_sessions(&user.id).unwrap().len(), 1);
        let nobody = uuid::Uuid::new_v4().to_string();
        assert_eq!(store.list_sessions(&nobody).unwrap(), []);
        assert_eq!(store.list_events(&nobody, None, 10, 86_400).unwrap(), []);
    });
}

#[test]
fn each_revocation_records_its_event_and_logout_all_one() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("rev@example.com")).unwrap();
        let by = Client {
            ip: Some("198.51.100.1".into()),
            user_agent: None,
        };
        session(store, &user, b"a");
        assert!(store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout, &by)
            .unwrap());
        let reused = session(store, &user, b"b");
        store
            .revoke_known_session(&reused, RevokeReason::RefreshTokenReuse, &by)
            .unwrap();
        let other = session(store, &user, b"c");
        let caller = session(store, &user, b"d");
        assert!(store
            .revoke_user_session(&user.id, &other, RevokeReason::SessionRevoked, &by)
            .unwrap());
        session(store, &user, b"e");
        assert!(store.revoke_all_sessions(&user.id, &caller, &by).unwrap());
        // Nothing revoked, nothing recorded.
        assert!(!store
            .revoke_session_by_refresh(b"a", RevokeReason::Logout, &by)
            .unwrap());
        let events = store.list_events(&user.id, None, 100, 86_400).unwrap();
        let revocations: Vec<(&str, Option<&str>)> = events
            .iter()
            .filter(|e| e.kind != "login")
            .map(|e| (e.kind.as_str(), e.ip.as_deref()))
            .collect();
        assert_eq!(
            revocations,
            [
                ("logout_all", Some("198.51.100.1")),
                ("session_revoked", Some("198.51.100.1")),
                ("refresh_reuse", Some("198.51.100.1")),
                ("logout", Some("198.51.100.1")),
            ]
        );
        let logout_all = &events[0];
        assert_eq!(logout_all.session_id.as_deref(), Some(caller.as_str()));
    });
}

#[test]
fn events_page_newest_first_below_a_cursor() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("page@example.com")).unwrap();
        let failed = NewEvent {
            user_id: user.id.clone(),
            kind: EventKind::LoginFailed,
            client: NO_CLIENT,
            session_id: None,
        };
        store.record_events(&vec![failed.clone(); 4]).unwrap();
        store
            .record_events(&[NewEvent {
                kind: EventKind::LoginLocked,
                ..failed
            }])
            .unwrap();
        let first = store.list_events(&user.id, None, 2, 86_400).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].kind, "login_locked");
        let rest = store
            .list_events(&user.id, Some(first[1].id), 10, 86_400)
            .unwrap();
        assert_eq!(rest.len(), 3);
        assert!(rest
            .iter()
            .all(|e| e.id < first[1].id && e.kind == "login_failed"));
    });
}

#[test]
fn events_past_their_retention_are_not_listed_and_are_pruned_at_a_login() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("old@example.com")).unwrap();
        session(store, &user, b"old");
        t.advance_secs(2 * 86_400);
        assert_eq!(kinds(store, &user.id), Vec::<String>::new(), "past a day");
        assert_eq!(
            store
                .list_events(&user.id, None, 10, 3 * 86_400)
                .unwrap()
                .len(),
            1
        );
        session(store, &user, b"new"); // prunes what is older than a day
        assert_eq!(
            store
                .list_events(&user.id, None, 10, 3 * 86_400)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(kinds(store, &user.id), ["login"]);
    });
}

#[test]
fn an_unverified_users_refresh_token_does_not_rotate() {
    on_both(|t| {
        let store = &t.store;
        let user = store.insert_user(&new_user("unv@example.com")).unwrap();
        session(store, &user, b"tok");
        store
            .execute(
                match t.dialect() {
                    Dialect::Postgres => "UPDATE users SET verified = false",
                    Dialect::Sqlite => "UPDATE users SET verified = 0",
                },
                &[],
            )
            .unwrap();
        assert_eq!(
            store.rotate_refresh_token(b"tok", b"next", 60).unwrap(),
            None
        );
        let known = store.find_refresh_token(b"tok").unwrap().unwrap();
        assert_eq!(known.retired_ms_ago, None, "still the current token");
    });
}

#[test]
fn only_the_attempt_that_reaches_the_limit_sets_the_lock() {
    on_both(|t| {
        let throttle = Throttle {
            max_failures: 3,
            window_secs: 60,
        };
        let sets: Vec<bool> = (0..5)
            .map(|_| {
                t.store
                    .begin_login_attempt("lock@example.com", throttle)
                    .unwrap()
                    .sets_lock
            })
            .collect();
        assert_eq!(sets, [false, false, true, false, false]);
    });
}

// The account flows.

fn mint(t: &TestStore, email: &str, kind: TokenKind, digest: &[u8]) -> Option<MintedToken> {
    t.store
        .mint_token(&TokenRequest {
            email,
            kind,
            digest: digest.to_vec(),
            lifetime_secs: 600,
            only_unverified: kind == TokenKind::EmailVerification,
            max_per_hour: 3,
            event: (kind == TokenKind::PasswordReset).then_some(EventKind::PasswordResetRequested),
            client: &NO_CLIENT,
        })
        .unwrap()
}

fn with_token(digest: &[u8], kind: TokenKind, password: Option<&str>) -> AccountChange {
    AccountChange {
        proof: ChangeProof::Token {
            digest: digest.to_vec(),
            kind,
        },
        new_password_hash: password.map(str::to_owned),
        admin_emails: vec!["boss@example.com".into()],
        event: match password {
            Some(_) => EventKind::PasswordReset,
            None => EventKind::EmailVerified,
        },
        client: NO_CLIENT,
    }
}

fn unverified(t: &TestStore, email: &str) -> User {
    t.store
        .insert_user(&NewUser {
            verified: false,
            ..new_user(email)
        })
        .unwrap()
}

#[test]
fn tokens_are_minted_for_registered_addresses_only_three_an_hour() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("mia@example.com")).unwrap();
        assert_eq!(
            mint(t, "nobody@example.com", TokenKind::PasswordReset, b"x"),
            None
        );
        // A verification is for unverified users only.
        assert_eq!(
            mint(t, "mia@example.com", TokenKind::EmailVerification, b"v"),
            None
        );
        let minted = mint(t, "mia@example.com", TokenKind::PasswordReset, b"r1").unwrap();
        assert_eq!(minted.user.id, user.id);
        assert!(minted.expires_at_us > user.created_at_us);
        assert!(mint(t, "mia@example.com", TokenKind::PasswordReset, b"r2").is_some());
        assert!(mint(t, "mia@example.com", TokenKind::PasswordReset, b"r3").is_some());
        assert_eq!(
            mint(t, "mia@example.com", TokenKind::PasswordReset, b"r4"),
            None
        );
        // The newest works; the older ones were voided; r4 was never minted.
        for voided in [&b"r1"[..], b"r2", b"r4"] {
            let change = with_token(voided, TokenKind::PasswordReset, Some("h"));
            assert_eq!(t.store.apply_account_change(&change).unwrap(), None);
        }
        assert_eq!(kinds(&t.store, &user.id), ["password_reset_requested"; 3]);
        t.advance_secs(3601);
        assert!(mint(t, "mia@example.com", TokenKind::PasswordReset, b"r5").is_some());
    });
}

#[test]
fn a_verification_token_verifies_once_and_promotes_listed_admins() {
    on_both(|t| {
        let boss = unverified(t, "boss@example.com");
        let other = unverified(t, "other@example.com");
        mint(t, "boss@example.com", TokenKind::EmailVerification, b"vb").unwrap();
        mint(t, "other@example.com", TokenKind::EmailVerification, b"vo").unwrap();
        // A token of another kind is refused.
        let wrong_kind = with_token(b"vb", TokenKind::PasswordReset, Some("h"));
        assert_eq!(t.store.apply_account_change(&wrong_kind).unwrap(), None);
        let verified = t
            .store
            .apply_account_change(&with_token(b"vb", TokenKind::EmailVerification, None))
            .unwrap()
            .unwrap();
        assert_eq!(
            (verified.id.as_str(), verified.verified),
            (boss.id.as_str(), true)
        );
        assert_eq!(verified.role, "admin");
        assert_eq!(verified.password_hash, boss.password_hash);
        let again = with_token(b"vb", TokenKind::EmailVerification, None);
        assert_eq!(t.store.apply_account_change(&again).unwrap(), None);
        let plain = t
            .store
            .apply_account_change(&with_token(b"vo", TokenKind::EmailVerification, None))
            .unwrap()
            .unwrap();
        assert_eq!(
            (plain.id, plain.role.as_str(), plain.verified),
            (other.id, "user", true)
        );
        assert_eq!(kinds(&t.store, &boss.id), ["email_verified"]);
    });
}

#[test]
fn an_expired_token_is_refused() {
    on_both(|t| {
        unverified(t, "late@example.com");
        mint(t, "late@example.com", TokenKind::EmailVerification, b"late").unwrap();
        t.advance_secs(601);
        let change = with_token(b"late", TokenKind::EmailVerification, None);
        assert_eq!(t.store.apply_account_change(&change).unwrap(), None);
    });
}

#[test]
fn a_reset_sets_the_password_revokes_every_session_and_spends_every_token() {
    on_both(|t| {
        let user = unverified(t, "ray@example.com");
        let first = session(&t.store, &user, b"s1");
        let second = session(&t.store, &user, b"s2");
        mint(t, "ray@example.com", TokenKind::EmailVerification, b"v").unwrap();
        mint(t, "ray@example.com", TokenKind::PasswordReset, b"r").unwrap();
        let throttle = Throttle {
            max_failures: 5,
            window_secs: 60,
        };
        t.store
            .begin_login_attempt("ray@example.com", throttle)
            .unwrap();
        let reset = t
            .store
            .apply_account_change(&with_token(
                b"r",
                TokenKind::PasswordReset,
                Some("new-hash"),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            (reset.password_hash.as_str(), reset.verified),
            ("new-hash", true)
        );
        for id in [&first, &second] {
            assert!(
                !t.store
                    .user_with_session(&user.id, id)
                    .unwrap()
                    .session_active
            );
        }
        // The verification token was spent with it.
        let verify = with_token(b"v", TokenKind::EmailVerification, None);
        assert_eq!(t.store.apply_account_change(&verify).unwrap(), None);
        // The failed-login count is gone: a limit of 1 is reached afresh.
        let one = Throttle {
            max_failures: 1,
            window_secs: 60,
        };
        let attempt = t.store.begin_login_attempt("ray@example.com", one).unwrap();
        assert_eq!(attempt.locked_for_secs, None);
        assert_eq!(kinds(&t.store, &user.id)[0], "password_reset");
    });
}

#[test]
fn a_password_change_keeps_the_callers_session_only() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("cy@example.com")).unwrap();
        let mine = session(&t.store, &user, b"m");
        let other = session(&t.store, &user, b"o");
        mint(t, "cy@example.com", TokenKind::PasswordReset, b"r").unwrap();
        let change = AccountChange {
            proof: ChangeProof::Session {
                user_id: user.id.clone(),
                session_id: mine.clone(),
            },
            new_password_hash: Some("changed".into()),
            admin_emails: vec!["cy@example.com".into()],
            event: EventKind::PasswordChanged,
            client: NO_CLIENT,
        };
        let changed = t.store.apply_account_change(&change).unwrap().unwrap();
        // A password change proves no mailbox: no promotion.
        assert_eq!(
            (changed.password_hash.as_str(), changed.role.as_str()),
            ("changed", "user")
        );
        assert!(
            t.store
                .user_with_session(&user.id, &mine)
                .unwrap()
                .session_active
        );
        assert!(
            !t.store
                .user_with_session(&user.id, &other)
                .unwrap()
                .session_active
        );
        let reset = with_token(b"r", TokenKind::PasswordReset, Some("h"));
        assert_eq!(t.store.apply_account_change(&reset).unwrap(), None);
        let events = t.store.list_events(&user.id, None, 10, 86_400).unwrap();
        assert_eq!(events[0].kind, "password_changed");
        assert_eq!(events[0].session_id.as_deref(), Some(mine.as_str()));
    });
}

#[test]
fn a_deleted_user_takes_its_tokens_and_events_and_its_sessions_end() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("del@example.com")).unwrap();
        let kept = t.store.insert_user(&new_user("kept@example.com")).unwrap();
        let id = session(&t.store, &user, b"del");
        session(&t.store, &kept, b"kept");
        mint(t, "del@example.com", TokenKind::PasswordReset, b"r").unwrap();
        assert!(t.store.delete_user(&user.id).unwrap());
        assert!(!t.store.delete_user(&user.id).unwrap());
        let known = t.store.find_refresh_token(b"del").unwrap().unwrap();
        assert_eq!((known.user, known.session_active), (None, false));
        assert!(
            !t.store
                .user_with_session(&user.id, &id)
                .unwrap()
                .session_active
        );
        let count = |table: &str| {
            t.store
                .query(&format!("SELECT count(*) AS n FROM {table}"), &[])
                .unwrap()
                .first()
                .unwrap()
                .int("n")
                .unwrap()
        };
        assert_eq!(count("one_time_tokens"), 0);
        // Only the other user's login event is left.
        assert_eq!(count("security_events"), 1);
        assert_eq!(kinds(&t.store, &kept.id), ["login"]);
        // The address can register again.
        t.store.insert_user(&new_user("del@example.com")).unwrap();
    });
}

#[test]
fn a_profile_update_sets_the_fields_given_and_moves_updated_at() {
    on_both(|t| {
        let user = t
            .store
            .insert_user(&NewUser {
                photo: Some("p.png".into()),
                ..new_user("pat@example.com")
            })
            .unwrap();
        let renamed = t
            .store
            .update_profile(
                &user.id,
                &ProfileUpdate {
                    name: Some("Pat".into()),
                    photo: None,
                },
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.photo.as_deref()),
            ("Pat", Some("p.png"))
        );
        assert!(renamed.updated_at_us > user.updated_at_us);
        assert_eq!(renamed.created_at_us, user.created_at_us);
        let cleared = t
            .store
            .update_profile(
                &user.id,
                &ProfileUpdate {
                    name: None,
                    photo: Some(None),
                },
            )
            .unwrap()
            .unwrap();
        assert_eq!((cleared.name.as_str(), cleared.photo), ("Pat", None));
        let nobody = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            t.store
                .update_profile(&nobody, &ProfileUpdate::default())
                .unwrap(),
            None
        );
    });
}

#[test]
fn a_lock_is_read_without_counting() {
    on_both(|t| {
        let throttle = Throttle {
            max_failures: 2,
            window_secs: 30,
        };
        assert_eq!(t.store.login_lock("lo@example.com").unwrap(), None);
        t.store
            .begin_login_attempt("lo@example.com", throttle)
            .unwrap();
        assert_eq!(t.store.login_lock("lo@example.com").unwrap(), None);
        t.store
            .begin_login_attempt("lo@example.com", throttle)
            .unwrap();
        assert_eq!(t.store.login_lock("lo@example.com").unwrap(), Some(30));
        t.advance_secs(10);
        assert_eq!(t.store.login_lock("lo@example.com").unwrap(), Some(20));
    });
}

fn confirmation(user: &User, step: u64, keep_session: &str) -> FactorConfirmation {
    FactorConfirmation {
        user_id: user.id.clone(),
        step,
        reseal: None,
        recovery_digests: vec![vec![1; 32], vec![2; 32]],
        keep_session: keep_session.into(),
        client: NO_CLIENT,
    }
}

/// A user with a confirmed factor at `step`, signed in on `kept`, with
/// another session `other` (revoked by the confirmation).
fn with_factor(t: &TestStore, email: &str, step: u64) -> (User, String, String) {
    let user = t.store.insert_user(&new_user(email)).unwrap();
    let kept = session(&t.store, &user, email.as_bytes());
    let other = session(&t.store, &user, format!("{email}-2").as_bytes());
    assert!(t.store.save_pending_factor(&user.id, b"sealed").unwrap());
    assert!(t
        .store
        .confirm_factor(&confirmation(&user, step, &kept))
        .unwrap());
    (user, kept, other)
}

#[test]
fn a_factor_is_pending_until_confirmed_once_and_then_two_factor_is_on() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("tia@example.com")).unwrap();
        assert_eq!(t.store.mfa_factor(&user.id).unwrap(), None);
        let nobody = uuid::Uuid::new_v4().to_string();
        assert!(!t
            .store
            .confirm_factor(&confirmation(&user, 9, &nobody))
            .unwrap());
        assert!(t.store.save_pending_factor(&user.id, b"first").unwrap());
        assert!(t.store.save_pending_factor(&user.id, b"second").unwrap());
        let pending = t.store.mfa_factor(&user.id).unwrap().unwrap();
        assert_eq!(pending.sealed_secret, b"second");
        assert!(!pending.confirmed);
        let kept = session(&t.store, &user, b"kept");
        let other = session(&t.store, &user, b"other");
        let mut confirm = confirmation(&user, 100, &kept);
        confirm.reseal = Some(b"resealed".to_vec());
        assert!(t.store.confirm_factor(&confirm).unwrap());
        assert!(!t.store.confirm_factor(&confirm).unwrap(), "once");
        let factor = t.store.mfa_factor(&user.id).unwrap().unwrap();
        assert!(factor.confirmed);
        assert_eq!(factor.last_step, Some(100));
        assert_eq!(factor.sealed_secret, b"resealed");
        assert!(!t.store.save_pending_factor(&user.id, b"x").unwrap(), "409");
        let found = t.store.user_with_session(&user.id, &kept).unwrap();
        assert!(found.session_active);
        assert!(t.store.mfa_enabled(&user.id).unwrap());
        assert!(t.store.admin_user(&user.id).unwrap().unwrap().mfa_enabled);
        assert!(
            !t.store
                .user_with_session(&user.id, &other)
                .unwrap()
                .session_active
        );
        assert_eq!(kinds(&t.store, &user.id), ["mfa_enabled", "login", "login"]);
    });
}

#[test]
fn a_step_is_accepted_only_after_the_last_one_and_a_recovery_code_once() {
    on_both(|t| {
        let (user, _, _) = with_factor(t, "ria@example.com", 100);
        assert!(!t.store.accept_totp_step(&user.id, 100, None).unwrap());
        assert!(!t.store.accept_totp_step(&user.id, 99, None).unwrap());
        assert!(t
            .store
            .accept_totp_step(&user.id, 101, Some(b"new"))
            .unwrap());
        assert!(!t.store.accept_totp_step(&user.id, 101, None).unwrap());
        let factor = t.store.mfa_factor(&user.id).unwrap().unwrap();
        assert_eq!(
            (factor.last_step, factor.sealed_secret),
            (Some(101), b"new".to_vec())
        );
        assert!(t.store.use_recovery_code(&user.id, &[1; 32]).unwrap());
        assert!(!t.store.use_recovery_code(&user.id, &[1; 32]).unwrap());
        assert!(!t.store.use_recovery_code(&user.id, &[3; 32]).unwrap());
        let stranger = t.store.insert_user(&new_user("x@example.com")).unwrap();
        assert!(!t.store.use_recovery_code(&stranger.id, &[2; 32]).unwrap());
        assert!(!t.store.accept_totp_step(&stranger.id, 500, None).unwrap());
    });
}

fn mfa_token(user: &User, digest: &[u8]) -> NewMfaToken {
    NewMfaToken {
        digest: digest.to_vec(),
        user_id: user.id.clone(),
        lifetime_secs: 300,
        client: NO_CLIENT,
    }
}

#[test]
fn an_mfa_token_is_spent_once_dies_after_five_failures_and_expires() {
    on_both(|t| {
        let (user, _, _) = with_factor(t, "mo@example.com", 1);
        assert_eq!(t.store.find_mfa_token(b"none").unwrap(), None);
        for digest in [&b"a"[..], b"b", b"c"] {
            t.store.create_mfa_token(&mfa_token(&user, digest)).unwrap();
        }
        let found = t.store.find_mfa_token(b"a").unwrap().unwrap();
        assert!(found.live);
        assert_eq!(found.user.unwrap().id, user.id);
        assert!(t.store.spend_mfa_token(b"a").unwrap());
        assert!(!t.store.spend_mfa_token(b"a").unwrap());
        assert!(!t.store.find_mfa_token(b"a").unwrap().unwrap().live);
        for _ in 0..4 {
            t.store.count_mfa_token_failure(b"b").unwrap();
        }
        assert!(t.store.find_mfa_token(b"b").unwrap().unwrap().live);
        t.store.count_mfa_token_failure(b"b").unwrap();
        assert!(!t.store.find_mfa_token(b"b").unwrap().unwrap().live);
        t.advance_secs(301);
        assert!(!t.store.find_mfa_token(b"c").unwrap().unwrap().live);
        assert!(!t.store.spend_mfa_token(b"c").unwrap());
    });
}

#[test]
fn disabling_removes_the_factor_codes_and_open_mfa_tokens() {
    on_both(|t| {
        let (user, kept, _) = with_factor(t, "di@example.com", 1);
        t.store
            .create_mfa_token(&mfa_token(&user, b"open"))
            .unwrap();
        assert!(t.store.delete_factor(&user.id, &kept, &NO_CLIENT).unwrap());
        assert!(!t.store.delete_factor(&user.id, &kept, &NO_CLIENT).unwrap());
        assert_eq!(t.store.mfa_factor(&user.id).unwrap(), None);
        assert!(!t.store.use_recovery_code(&user.id, &[2; 32]).unwrap());
        assert_eq!(t.store.find_mfa_token(b"open").unwrap(), None);
        assert_eq!(kinds(&t.store, &user.id)[0], "mfa_disabled");
        assert!(!t.store.mfa_enabled(&user.id).unwrap());
        assert!(!t.store.admin_user(&user.id).unwrap().unwrap().mfa_enabled);
    });
}

#[test]
fn a_new_password_kills_open_mfa_tokens_and_deletion_takes_the_factor() {
    on_both(|t| {
        let (user, kept, _) = with_factor(t, "np@example.com", 1);
        t.store
            .create_mfa_token(&mfa_token(&user, b"open"))
            .unwrap();
        let change = AccountChange {
            proof: ChangeProof::Session {
                user_id: user.id.clone(),
                session_id: kept.clone(),
            },
            new_password_hash: Some("new hash".into()),
            admin_emails: Vec::new(),
            event: EventKind::PasswordChanged,
            client: NO_CLIENT,
        };
        assert!(t.store.apply_account_change(&change).unwrap().is_some());
        assert!(!t.store.find_mfa_token(b"open").unwrap().unwrap().live);
        t.store
            .create_mfa_token(&mfa_token(&user, b"later"))
            .unwrap();
        assert!(t.store.delete_user(&user.id).unwrap());
        assert_eq!(t.store.mfa_factor(&user.id).unwrap(), None);
        assert_eq!(t.store.find_mfa_token(b"later").unwrap(), None);
        assert!(!t.store.use_recovery_code(&user.id, &[1; 32]).unwrap());
    });
}

#[test]
fn a_session_keeps_its_amr_across_rotation() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("am@example.com")).unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        t.store
            .create_session(&NewSession {
                id: id.clone(),
                user_id: user.id.clone(),
                refresh_digest: b"r1".to_vec(),
                refresh_lifetime_secs: 3600,
                absolute_timeout_secs: 7200,
                amr: "pwd otp".into(),
                client: NO_CLIENT,
                event_retention_secs: 86_400,
            })
            .unwrap();
        let rotated = t
            .store
            .rotate_refresh_token(b"r1", b"r2", 3600)
            .unwrap()
            .unwrap();
        assert_eq!(
            (rotated.session_id, rotated.amr),
            (id, "pwd otp".to_owned())
        );
        let known = t.store.find_refresh_token(b"r1").unwrap().unwrap();
        assert_eq!(known.amr, "pwd otp");
    });
}

// Admin.

fn page<'a>(query: Option<&'a str>, after: Option<&User>, limit: u32) -> UserPage<'a> {
    UserPage {
        query,
        after: after.map(|u| (u.created_at_us, u.id.clone())),
        limit,
    }
}

#[test]
fn the_user_listing_pages_oldest_first_and_searches_email_and_name() {
    on_both(|t| {
        assert_eq!(
            t.store.list_users(&page(None, None, 10)).unwrap(),
            Vec::new()
        );
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(
                t.store
                    .insert_user(&new_user(&format!("p{i}@example.com")))
                    .unwrap(),
            );
            t.advance_secs(1);
        }
        let first = t.store.list_users(&page(None, None, 2)).unwrap();
        let ids = |users: &[User]| users.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
        // Time moved backwards for the older rows on PostgreSQL: the order
        // is by created_at whatever the insertion order.
        let mut expected = created.clone();
        expected.sort_by_key(|u| {
            (
                t.store
                    .admin_user(&u.id)
                    .unwrap()
                    .unwrap()
                    .user
                    .created_at_us,
                u.id.clone(),
            )
        });
        assert_eq!(ids(&first), ids(&expected[..2]));
        let second = t.store.list_users(&page(None, first.last(), 2)).unwrap();
        assert_eq!(ids(&second), ids(&expected[2..4]));
        let third = t.store.list_users(&page(None, second.last(), 2)).unwrap();
        assert_eq!(ids(&third), ids(&expected[4..]));
        assert!(t
            .store
            .list_users(&page(None, third.last(), 2))
            .unwrap()
            .is_empty());
        let found = t
            .store
            .list_users(&page(Some("P3@EXAMPLE"), None, 10))
            .unwrap();
        assert_eq!(ids(&found), [created[3].id.clone()]);
        assert_eq!(
            t.store
                .list_users(&page(Some("ann"), None, 10))
                .unwrap()
                .len(),
            5,
            "name"
        );
        assert!(t
            .store
            .list_users(&page(Some("%"), None, 10))
            .unwrap()
            .is_empty());
    });
}

#[test]
fn disabling_revokes_every_session_and_stops_refresh() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("dis@example.com")).unwrap();
        let first = session(&t.store, &user, b"d1");
        session(&t.store, &user, b"d2");
        t.store
            .create_mfa_token(&mfa_token(&user, b"second"))
            .unwrap();
        let change = AdminChange {
            disabled: Some(true),
            ..AdminChange::default()
        };
        let updated = t
            .store
            .admin_update_user(&user.id, &change, &NO_CLIENT)
            .unwrap()
            .unwrap();
        assert!(updated.disabled);
        assert!(updated.updated_at_us > user.updated_at_us);
        let info = t.store.admin_user(&user.id).unwrap().unwrap();
        assert_eq!(info.live_sessions, 0);
        assert!(
            !t.store
                .user_with_session(&user.id, &first)
                .unwrap()
                .session_active
        );
        assert_eq!(
            t.store.rotate_refresh_token(b"d1", b"d3", 60).unwrap(),
            None
        );
        assert!(!t.store.find_mfa_token(b"second").unwrap().unwrap().live);
        assert_eq!(kinds(&t.store, &user.id)[0], "admin_update");
        // Enabled again: a new session refreshes.
        let enable = AdminChange {
            disabled: Some(false),
            role: Some("admin".into()),
            verified: Some(false),
        };
        let back = t
            .store
            .admin_update_user(&user.id, &enable, &NO_CLIENT)
            .unwrap()
            .unwrap();
        assert!(!back.disabled && !back.verified);
        assert_eq!(back.role, "admin");
        let nobody = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            t.store
                .admin_update_user(&nobody, &enable, &NO_CLIENT)
                .unwrap(),
            None
        );
        assert_eq!(t.store.admin_user(&nobody).unwrap(), None);
    });
}

#[test]
fn an_admin_logout_all_revokes_every_session_with_one_event() {
    on_both(|t| {
        let user = t.store.insert_user(&new_user("lo@example.com")).unwrap();
        session(&t.store, &user, b"l1");
        session(&t.store, &user, b"l2");
        assert_eq!(
            t.store.admin_user(&user.id).unwrap().unwrap().live_sessions,
            2
        );
        assert!(t.store.admin_logout_all(&user.id, &NO_CLIENT).unwrap());
        assert_eq!(
            t.store.admin_user(&user.id).unwrap().unwrap().live_sessions,
            0
        );
        assert_eq!(
            kinds(&t.store, &user.id),
            ["admin_logout_all", "login", "login"]
        );
        let nobody = uuid::Uuid::new_v4().to_string();
        assert!(!t.store.admin_logout_all(&nobody, &NO_CLIENT).unwrap());
    });
}
