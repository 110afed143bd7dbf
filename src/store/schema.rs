//! The versioned schema: numbered SQL files per backend (`migrations/`),
//! embedded in the component, applied in order and recorded in the
//! database's `schema_migrations` table (version, name, SHA-256 of the file).
//!
//! The component applies pending migrations itself, on SQLite and on
//! PostgreSQL alike, so a deployment without the runner (real Spin, Fermyon
//! Cloud, SpinKube) upgrades on its own. It costs nothing in the steady
//! state: every request is a fresh instance, so instead of asking the
//! version on each request, the store learns that the schema is behind from
//! the error a statement raises (a missing table or column), upgrades, and
//! runs the statement once more. `spin-auth-runner migrate` (`make
//! migrate`) runs the same code natively.
//!
//! - **PostgreSQL**: each migration is ONE `DO` block (pg4's `execute` sends
//!   one statement): it takes a transaction-scoped advisory lock (waiting at
//!   most a few seconds, then `503` with `Retry-After` while another
//!   instance migrates), re-checks the version under the lock, runs the
//!   file's statements and records the version, all in one transaction. A
//!   request that traps cannot leave a lock or half a migration behind: the
//!   lock ends with the statement, whatever happens to the instance, and
//!   Spin's connection pool would not reset a session lock until it
//!   recycled the connection. Databases made by the first releases, whose
//!   runner recorded versions in refinery's `refinery_schema_history`, are
//!   adopted: those versions count as applied.
//! - **SQLite**: one `BEGIN IMMEDIATE` transaction over the pending files
//!   (one statement per call), so another instance never sees a
//!   half-applied schema and two instances starting together take turns.
//!   A database the first release's component created by itself has the
//!   tables of `V1` but no history: `V1` is idempotent, so it is applied
//!   (as a no-op) and recorded.
//!
//! An applied migration whose statements changed since is refused, with a
//! log line naming it: add a new numbered file instead of editing an
//! applied one (comments may be edited).

use sha2::{Digest, Sha256};

use super::db::{Db, DbError, DbErrorKind, Dialect};
use super::row::Value;
use crate::error::StoreError;

/// One numbered migration file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $dir:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!("../../migrations/", $dir, "/", $file)),
        }
    };
}

/// `migrations/postgres`, in order. A unit test checks this list against
/// the directory.
pub const POSTGRES: &[Migration] = &[
    migration!(1, "postgres", "V1__users.sql"),
    migration!(2, "postgres", "V2__sessions.sql"),
    migration!(3, "postgres", "V3__login_throttling.sql"),
    migration!(4, "postgres", "V4__login_throttle.sql"),
    migration!(5, "postgres", "V5__session_devices_and_security_events.sql"),
    migration!(6, "postgres", "V6__one_time_tokens.sql"),
    migration!(7, "postgres", "V7__email_sends.sql"),
    migration!(8, "postgres", "V8__two_factor.sql"),
    migration!(9, "postgres", "V9__disabled_accounts.sql"),
];

/// `migrations/sqlite`, in order.
pub const SQLITE: &[Migration] = &[
    migration!(1, "sqlite", "V1__schema.sql"),
    migration!(2, "sqlite", "V2__session_devices_and_security_events.sql"),
    migration!(3, "sqlite", "V3__one_time_tokens.sql"),
    migration!(4, "sqlite", "V4__email_sends.sql"),
    migration!(5, "sqlite", "V5__two_factor.sql"),
    migration!(6, "sqlite", "V6__disabled_accounts.sql"),
    migration!(7, "sqlite", "V7__two_factor_changes.sql"),
];

/// The advisory lock key that serialises migrations of one database.
const LOCK_KEY: i64 = 0x5350_494e_4155_5448; // "SPINAUTH"
/// How long an instance waits for another's migration before answering 503.
const LOCK_WAIT: &str = "3s";

pub fn migrations(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        Dialect::Postgres => POSTGRES,
        Dialect::Sqlite => SQLITE,
    }
}

impl Migration {
    /// SHA-256 of the file's statements (comments and blank lines do not
    /// count, so explaining an applied migration better is no edit), hex:
    /// what `schema_migrations` records.
    pub fn checksum(&self) -> String {
        Sha256::digest(statements(self.sql).join("\n;\n").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn label(&self) -> String {
        format!("V{}__{}", self.version, self.title())
    }

    fn title(&self) -> &'static str {
        self.name
            .split_once("__")
            .map_or(self.name, |(_, rest)| rest)
            .trim_end_matches(".sql")
    }
}

/// What an upgrade did.
#[derive(Debug, Clone, PartialEq)]
pub struct Upgrade {
    /// Versions recorded before and after.
    pub before: Vec<i64>,
    pub after: Vec<i64>,
}

impl Upgrade {
    pub fn applied(&self) -> Vec<i64> {
        self.after
            .iter()
            .copied()
            .filter(|v| !self.before.contains(v))
            .collect()
    }
}

/// Applies every pending migration of the database's dialect.
pub fn upgrade(db: &impl Db) -> Result<Upgrade, StoreError> {
    let result = match db.dialect() {
        Dialect::Postgres => upgrade_postgres(db),
        Dialect::Sqlite => upgrade_sqlite(db),
    };
    result.map_err(|error| match error.kind {
        DbErrorKind::Locked => StoreError::Migrating,
        _ => StoreError::Unavailable(format!("schema migration failed: {}", error.message)),
    })
}

/// The versions `schema_migrations` records (none before the first upgrade).
pub fn recorded_versions(db: &impl Db) -> Result<Vec<i64>, DbError> {
    let statement = match db.dialect() {
        Dialect::Postgres => {
            "SELECT COALESCE(jsonb_agg(version ORDER BY version), '[]'::jsonb)::text AS versions \
             FROM schema_migrations"
        }
        Dialect::Sqlite => {
            "SELECT coalesce(json_group_array(version), '[]') AS versions \
             FROM (SELECT version FROM schema_migrations ORDER BY version)"
        }
    };
    let versions = match db.query(statement, &[]) {
        Ok(rows) => rows,
        Err(e) if e.kind == DbErrorKind::SchemaBehind => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let text = versions
        .first()
        .map(|row| row.text("versions"))
        .transpose()
        .map_err(|e| DbError::other(format!("{e:?}")))?
        .unwrap_or_else(|| "[]".into());
    serde_json::from_str(&text).map_err(|e| DbError::other(format!("schema_migrations: {e}")))
}

fn upgrade_postgres(db: &impl Db) -> Result<Upgrade, DbError> {
    let before = recorded_versions(db)?;
    for migration in POSTGRES {
        db.execute(&postgres_block(migration), &[])?;
    }
    Ok(Upgrade {
        before,
        after: recorded_versions(db)?,
    })
}

/// One migration as one self-contained, all-or-nothing statement.
fn postgres_block(migration: &Migration) -> String {
    let version = migration.version;
    let label = migration.label();
    let checksum = migration.checksum();
    let statements: String = statements(migration.sql)
        .iter()
        .map(|s| format!("EXECUTE $spin_auth_statement${s}$spin_auth_statement$;\n"))
        .collect();
    format!(
        "DO $spin_auth_migration$
DECLARE
  recorded text;
  adopted boolean := false;
BEGIN
  PERFORM set_config('lock_timeout', '{LOCK_WAIT}', true);
  PERFORM pg_advisory_xact_lock({LOCK_KEY});
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version     int8 PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
  );
  SELECT checksum INTO recorded FROM schema_migrations WHERE version = {version};
  IF recorded IS NOT NULL THEN
    IF recorded <> '{checksum}' THEN
      RAISE EXCEPTION '{EDITED}', '{label}' USING ERRCODE = 'SAEDT';
    END IF;
    RETURN;
  END IF;
  IF to_regclass('refinery_schema_history') IS NOT NULL THEN
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM refinery_schema_history WHERE version = $1)'
      INTO adopted USING {version};
  END IF;
  IF NOT adopted THEN
{statements}  END IF;
  INSERT INTO schema_migrations (version, name, checksum)
    VALUES ({version}, '{label}', '{checksum}');
END
$spin_auth_migration$"
    )
}

/// The log line for an edited migration (`%` is the migration's label).
const EDITED: &str = "migration % was changed after it was applied to this database: \
     restore the file and put the change into a new numbered migration";

fn upgrade_sqlite(db: &impl Db) -> Result<Upgrade, DbError> {
    db.execute("BEGIN IMMEDIATE", &[]).map_err(|e| {
        if e.message.contains("locked") || e.message.contains("busy") {
            DbError {
                kind: DbErrorKind::Locked,
                message: e.message,
            }
        } else {
            e
        }
    })?;
    let result = apply_sqlite_in_transaction(db);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = db.execute(end, &[]);
    let upgrade = result?;
    ended?;
    Ok(upgrade)
}

fn apply_sqlite_in_transaction(db: &impl Db) -> Result<Upgrade, DbError> {
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ( \
           version     INTEGER NOT NULL PRIMARY KEY, \
           name        TEXT NOT NULL, \
           checksum    TEXT NOT NULL, \
           applied_at  INTEGER NOT NULL \
         ) STRICT",
        &[],
    )?;
    let recorded = db
        .query("SELECT version, checksum FROM schema_migrations", &[])?
        .into_rows();
    let before: Vec<i64> = recorded
        .iter()
        .filter_map(|row| row.int("version").ok())
        .collect();
    for migration in SQLITE {
        let found = recorded
            .iter()
            .find(|row| row.int("version").ok() == Some(migration.version));
        if let Some(row) = found {
            if row.text("checksum").ok() != Some(migration.checksum()) {
                return Err(DbError::other(EDITED.replace('%', &migration.label())));
            }
            continue;
        }
        for statement in statements(migration.sql) {
            db.execute(&statement, &[])?;
        }
        db.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES (?1, ?2, ?3, ?4)",
            &[
                Value::Int(migration.version),
                Value::Text(migration.label()),
                Value::Text(migration.checksum()),
                Value::Int(super::system_clock_us()),
            ],
        )?;
    }
    let mut after = before.clone();
    after.extend(
        SQLITE
            .iter()
            .map(|m| m.version)
            .filter(|v| !before.contains(v)),
    );
    after.sort_unstable();
    Ok(Upgrade { before, after })
}

/// The statements of a migration file, one per `execute`: comments
/// dropped, split at the `;` that ends a line, except inside a trigger's
/// `BEGIN ... END;` (write those on lines of their own).
pub fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut in_trigger_body = false;
    for line in sql.lines() {
        let line = line.split("--").next().unwrap_or("").trim_end();
        if line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let upper = line.trim().to_ascii_uppercase();
        if upper == "BEGIN" {
            in_trigger_body = true;
        }
        let ends = if in_trigger_body {
            upper == "END;"
        } else {
            line.ends_with(';')
        };
        if ends {
            in_trigger_body = false;
            let statement = std::mem::take(&mut current);
            let statement = statement.trim().trim_end_matches(';').trim_end();
            statements.push(statement.to_owned());
        }
    }
    statements
}
