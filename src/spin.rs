//! The Spin edge: Spin's request in, the domain's response out. Reads the
//! body with the size limit, binds Spin variables and the store that
//! `database_url` names (Postgres or SQLite), and nothing else.

use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

use crate::config::{Config, Database, Variables};
use crate::http::{self, Body, Request, Response, MAX_BODY_BYTES};
use crate::store::postgres::PostgresStore;
use crate::store::spin_sqlite::SpinSqlite;
use crate::store::sqlite::SqliteStore;
use crate::store::DownStore;

struct SpinVariables;

impl Variables for SpinVariables {
    fn get(&self, name: &str) -> Result<String, String> {
        spin_sdk::variables::get(name).map_err(|e| e.to_string())
    }
}

#[http_component]
async fn handle(incoming: IncomingRequest, response_out: ResponseOutparam) {
    let request = read_request(incoming).await;
    let config = Config::new(&SpinVariables);
    let response = match config.database() {
        Ok(Database::Postgres(url)) => http::route(&request, &config, &PostgresStore::new(url)),
        Ok(Database::Sqlite(name)) => {
            let store = SqliteStore::new(SpinSqlite::new(name));
            http::route(&request, &config, &store)
        }
        Err(error) => {
            let reason = format!(
                "configuration error: variable `{}`: {}",
                error.variable, error.problem
            );
            http::route(&request, &config, &DownStore::new(reason))
        }
    };
    send(response, response_out).await;
}

async fn read_request(incoming: IncomingRequest) -> Request {
    let method = method_name(&incoming.method());
    let path_and_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let path = path_and_query.split('?').next().unwrap_or("/").to_owned();
    let headers: Vec<(String, String)> = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let declared_too_large = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES as u64);
    let body = if declared_too_large {
        Body::TooLarge
    } else {
        read_body(incoming).await
    };
    Request {
        method,
        path,
        headers,
        body,
    }
}

/// Reads at most `MAX_BODY_BYTES + 1` bytes; a longer body is never held in
/// memory whole. A broken stream reads as what arrived so far.
async fn read_body(incoming: IncomingRequest) -> Body {
    let mut stream = incoming.into_body_stream();
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            return Body::TooLarge;
        }
    }
    Body::Bytes(body)
}

fn method_name(method: &Method) -> String {
    method.to_string().to_ascii_uppercase()
}

async fn send(response: Response, response_out: ResponseOutparam) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    // The only failure is a client that hung up before reading the body:
    // nothing to do, and not worth a log line per request.
    let _ = response_out.set_with_body(outgoing, response.body).await;
}
