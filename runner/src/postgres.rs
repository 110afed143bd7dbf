//! The `spin:postgres/postgres@4.0.0` host, as Spin implements it: the
//! address is checked against `allowed_outbound_hosts` before connecting,
//! connections come from a deadpool pool per address (64 each) shared by all
//! requests, and values convert as in `pg_types`.

// The WIT `error` variant is what every function returns (as in Spin).
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::pg::{self as v4, DbError, ParameterValue, QueryError, RowSet};
use crate::pg_types;

/// Max connections in one address' pool (as Spin).
const CONNECTION_POOL_SIZE: usize = 64;
/// Connecting gives up after this long (unless the address sets `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A guest's open connection: a pooled client, returned to the pool on drop.
pub struct PgConnection(deadpool_postgres::Object);

/// Shared by all requests.
pub struct PgHost {
    pools: Mutex<HashMap<String, deadpool_postgres::Pool>>,
    allowed_hosts: AllowedHosts,
    strict: bool,
}

impl PgHost {
    pub fn new(allowed_hosts: AllowedHosts, strict: bool) -> Self {
        Self {
            pools: Mutex::new(HashMap::new()),
            allowed_hosts,
            strict,
        }
    }

    /// `connection.open(address)`.
    pub async fn open(&self, address: &str) -> Result<PgConnection, v4::Error> {
        self.ensure_address_allowed(address)?;
        let pool = self
            .pool(address)
            .map_err(|e| v4::Error::ConnectionFailed(format!("{e:#}")))?;
        let client = pool
            .get()
            .await
            .context("connecting to PostgreSQL")
            .map_err(|e| v4::Error::ConnectionFailed(format!("{e:#}")))?;
        Ok(PgConnection(client))
    }

    /// Spin's check: each TCP host of the address, with its port, must be
    /// allowed for the `postgres` scheme.
    fn ensure_address_allowed(&self, address: &str) -> Result<(), v4::Error> {
        let config = address
            .parse::<tokio_postgres::Config>()
            .map_err(|e| v4::Error::ConnectionFailed(e.to_string()))?;
        let ports = config.get_ports();
        for (i, host) in config.get_hosts().iter().enumerate() {
            match host {
                Host::Tcp(host) => {
                    let port = ports
                        .get(i)
                        .or_else(|| (ports.len() == 1).then(|| ports.first()).flatten())
                        .copied();
                    if !self.allowed_hosts.allows("postgres", host, port) {
                        let port_str = port.map(|p| format!(":{p}")).unwrap_or_default();
                        return Err(v4::Error::ConnectionFailed(format!(
                            "address postgres://{host}{port_str} is not permitted"
                        )));
                    }
                }
                #[cfg(unix)]
                Host::Unix(_) => {
                    return Err(v4::Error::ConnectionFailed(
                        "Unix sockets are not supported on WebAssembly".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    fn pool(&self, address: &str) -> Result<deadpool_postgres::Pool> {
        let mut pools = self
            .pools
            .lock()
            .map_err(|_| anyhow::anyhow!("connection pool cache poisoned"))?;
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let pool = create_pool(address)?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }

    /// `connection.query(statement, params)`.
    pub async fn query(
        &self,
        conn: &PgConnection,
        statement: &str,
        params: &[ParameterValue],
    ) -> Result<RowSet, v4::Error> {
        let params = pg_types::to_sql_parameters(params)
            .map_err(|e| v4::Error::BadParameter(format!("{e:?}")))?;
        let refs = param_refs(&params);
        // As Spin 4's host does: start the query, then read the row stream.
        // An error that arrives while rows are read (a unique violation of
        // an INSERT ... RETURNING, say) reaches the guest as text only,
        // without its SQLSTATE.
        let stream = conn
            .0
            .query_raw(statement, refs.iter().copied())
            .await
            .map_err(query_failed)?;
        let rows: Vec<tokio_postgres::Row> = stream
            .try_collect()
            .await
            .map_err(|e| v4::Error::QueryFailed(QueryError::Text(format!("{e:?}"))))?;
        if rows.is_empty() {
            if self.strict {
                let first_line = statement.trim().lines().next().unwrap_or("").trim();
                eprintln!("WARN strict: zero-row query: {first_line}");
                return Err(v4::Error::QueryFailed(QueryError::Text(
                    "strict mode: query returned zero rows; on Spin 4.0.x this query would never return"
                        .into(),
                )));
            }
            return Ok(RowSet {
                columns: vec![],
                rows: vec![],
            });
        }
        let columns = pg_types::infer_columns(&rows[0]);
        let rows = rows
            .iter()
            .map(pg_types::convert_row)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| v4::Error::QueryFailed(QueryError::Text(format!("{e:?}"))))?;
        Ok(RowSet { columns, rows })
    }

    /// `connection.execute(statement, params)`.
    pub async fn execute(
        &self,
        conn: &PgConnection,
        statement: &str,
        params: &[ParameterValue],
    ) -> Result<u64, v4::Error> {
        let params = pg_types::to_sql_parameters(params)
            .map_err(|e| v4::Error::ValueConversionFailed(format!("{e:?}")))?;
        let refs = param_refs(&params);
        conn.0.execute(statement, &refs).await.map_err(query_failed)
    }
}

fn param_refs(params: &[pg_types::SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Spin's mapping of a driver error to `query-failed`.
fn query_failed(e: tokio_postgres::Error) -> v4::Error {
    let as_text = format!("{e:?}");
    let query_error = match e.as_db_error() {
        None => QueryError::Text(as_text),
        Some(dbe) => QueryError::DbError(DbError {
            as_text,
            severity: dbe.severity().to_owned(),
            code: dbe.code().code().to_owned(),
            message: dbe.message().to_owned(),
            detail: dbe.detail().map(str::to_owned),
            extras: db_error_extras(dbe),
        }),
    };
    v4::Error::QueryFailed(query_error)
}

fn db_error_extras(dbe: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let mut extras = vec![];
    let mut push = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            extras.push((name.to_owned(), value));
        }
    };
    push("column", dbe.column().map(str::to_owned));
    push("constraint", dbe.constraint().map(str::to_owned));
    push("routine", dbe.routine().map(str::to_owned));
    push("hint", dbe.hint().map(str::to_owned));
    push("table", dbe.table().map(str::to_owned));
    push("datatype", dbe.datatype().map(str::to_owned));
    push("schema", dbe.schema().map(str::to_owned));
    push("file", dbe.file().map(str::to_owned));
    push("line", dbe.line().map(|l| l.to_string()));
    push("where_", dbe.where_().map(str::to_owned));
    extras
}

/// A pool for one address, honouring its `sslmode` as Spin does: `disable`
/// is plain; `prefer` (the default) tries TLS with certificate verification
/// and falls back to plain only if the server does not offer TLS; `require`
/// needs TLS. A certificate that fails verification is a connection error.
fn create_pool(address: &str) -> Result<deadpool_postgres::Pool> {
    let mut config = address
        .parse::<tokio_postgres::Config>()
        .context("parsing Postgres connection string")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let mgr_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Clean,
    };
    let manager = if config.get_ssl_mode() == SslMode::Disable {
        deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, mgr_config)
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?.as_ref().clone());
        deadpool_postgres::Manager::from_config(config, tls, mgr_config)
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(CONNECTION_POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(5)))
        .build()
        .context("building Postgres connection pool")
}

/// rustls with the system's root certificates, built once.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Skip certificates rustls cannot parse, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        eprintln!("WARN no system root certificates found; TLS connections to Postgres will fail verification");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("configuring TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// One connection outside the pools (used by `migrate`), with the same TLS
/// and timeout rules; the connection task is spawned on the runtime.
pub async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("WARN postgres connection closed: {e}");
            }
        });
        Ok(client)
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?.as_ref().clone());
        let (client, connection) = config.connect(tls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("WARN postgres connection closed: {e}");
            }
        });
        Ok(client)
    }
}

#[cfg(test)]
mod tests;
