//! `spin-auth-runner migrate`: applies the component's own migrations
//! (`migrations/`, embedded in `spin_auth::store::schema`) with the very
//! code the component runs on first need, natively: same files, same
//! `schema_migrations` table, same refusal of an edited migration.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use spin_auth::store::db::native::{NativePostgres, NativeSqlite};
use spin_auth::store::db::Db;
use spin_auth::store::schema::{self, Upgrade};
use tokio_postgres::error::SqlState;

use crate::postgres::{connect, tls_config};

pub async fn run(database_url: &str, create_database: bool) -> Result<()> {
    let config: tokio_postgres::Config =
        database_url.parse().context("parsing the database URL")?;
    if create_database {
        ensure_database(&config).await?;
    }
    let url = database_url.to_owned();
    // The native driver is blocking: off the async runtime's threads.
    tokio::task::spawn_blocking(move || {
        upgrade(&NativePostgres::from_client(blocking_client(&url)?))
    })
    .await
    .context("the migration task failed")?
}

/// A blocking client honouring the URL's `sslmode` as `up` does.
fn blocking_client(url: &str) -> Result<::postgres::Client> {
    let config: ::postgres::Config = url.parse().context("parsing the database URL")?;
    let client = if config.get_ssl_mode() == ::postgres::config::SslMode::Disable {
        config.connect(::postgres::NoTls)
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?.as_ref().clone());
        config.connect(tls)
    };
    client.context("connecting to the database")
}

/// The SQLite file is created (with its directory) if it does not exist.
pub fn run_sqlite(path: &Path) -> Result<()> {
    let connection = crate::sqlite::open_file(path)
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    upgrade(&NativeSqlite::new(connection)).with_context(|| format!("migrating {}", path.display()))
}

fn upgrade(db: &impl Db) -> Result<()> {
    let upgrade = schema::upgrade(db).map_err(|e| anyhow!("{e:?}"))?;
    print_report(&upgrade);
    Ok(())
}

fn print_report(upgrade: &Upgrade) {
    let applied = upgrade.applied();
    if applied.is_empty() {
        println!(
            "database is up to date (schema version {:?})",
            upgrade.after.last()
        );
    } else {
        for version in applied {
            println!("applied migration V{version}");
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
