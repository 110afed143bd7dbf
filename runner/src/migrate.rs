//! `spin-auth-runner migrate`: applies `V<n>__<name>.sql` files with refinery
//! (idempotent: refinery records applied versions in its history table), to
//! a PostgreSQL database or to an SQLite file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio_postgres::error::SqlState;

use crate::postgres::connect;

pub async fn run(database_url: &str, dir: &Path, create_database: bool) -> Result<()> {
    let config: tokio_postgres::Config =
        database_url.parse().context("parsing the database URL")?;
    if create_database {
        ensure_database(&config).await?;
    }
    let migrations = load(dir)?;
    let mut client = connect(&config)
        .await
        .context("connecting to the database")?;
    let report = refinery::Runner::new(&migrations)
        .run_async(&mut client)
        .await
        .context("applying migrations")?;
    print_report(&report);
    Ok(())
}

/// The SQLite file is created (with its directory) if it does not exist.
pub fn run_sqlite(path: &Path, dir: &Path) -> Result<()> {
    let migrations = load(dir)?;
    let mut connection = crate::sqlite::open_file(path)
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    let report = refinery::Runner::new(&migrations)
        .run(&mut connection)
        .with_context(|| format!("applying migrations to {}", path.display()))?;
    print_report(&report);
    Ok(())
}

fn load(dir: &Path) -> Result<Vec<refinery::Migration>> {
    if !dir.is_dir() {
        bail!("migrations directory {} does not exist", dir.display());
    }
    refinery::load_sql_migrations(dir)
        .with_context(|| format!("loading migrations from {}", dir.display()))
}

fn print_report(report: &refinery::Report) {
    let applied = report.applied_migrations();
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        for migration in applied {
            println!("applied {migration}");
        }
    }
}

/// Creates the URL's database if it does not exist, connecting to the
/// `postgres` database on the same server.
async fn ensure_database(config: &tokio_postgres::Config) -> Result<()> {
    let name = match (config.get_dbname(), config.get_user()) {
        (Some(db), _) => db.to_owned(),
        (None, Some(user)) => user.to_owned(),
        (None, None) => bail!("the database URL names no database"),
    };
    let mut admin = config.clone();
    admin.dbname("postgres");
    let client = connect(&admin)
        .await
        .context("connecting to the `postgres` database to create the app's database")?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .context("checking whether the database exists")?
        .is_some();
    if exists {
        return Ok(());
    }
    let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match client.batch_execute(&statement).await {
        Ok(()) => {
            println!("created database {name}");
            Ok(())
        }
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating database {name}")),
    }
}
