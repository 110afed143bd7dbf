//! The Spin edge: Spin's request in, the domain's response out. Reads the
//! body with the size limit, binds Spin variables and the store that
//! `database_url` names (Postgres or SQLite), and nothing else.

use futures::StreamExt;
use spin_sdk::http::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use spin_sdk::http_component;
use wasi::io::streams::OutputStream;

use crate::config::{Config, Database, Variables};
use crate::http::{self, Body, Request, Response, MAX_BODY_BYTES};
use crate::spin_outbound::SpinHttp;
use crate::store::db::spin_pg::SpinPostgres;
use crate::store::db::spin_sqlite::SpinSqlite;
use crate::store::{DownStore, SqlStore};

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
        Ok(Database::Postgres(url)) => http::route(
            &request,
            &config,
            &SqlStore::new(SpinPostgres::new(url)),
            &SpinHttp,
        ),
        Ok(Database::Sqlite(name)) => http::route(
            &request,
            &config,
            &SqlStore::new(SpinSqlite::new(name)),
            &SpinHttp,
        ),
        Err(error) => {
            let reason = format!(
                "configuration error: variable `{}`: {}",
                error.variable, error.problem
            );
            http::route(&request, &config, &DownStore::down(reason), &SpinHttp)
        }
    };
    send(response, response_out);
}

async fn read_request(incoming: IncomingRequest) -> Request {
    let method = method_name(&incoming.method());
    let path_and_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    let (path, query) = (path.to_owned(), query.to_owned());
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
        query,
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

/// Hands the response over in one piece: `content-length` set, the whole
/// body written and the body finished BEFORE the response is passed to the
/// host. The host's HTTP server then finds headers and body ready together
/// and writes them in one TCP segment. Handing the response over first (as
/// `ResponseOutparam::set_with_body` does) lets the server flush the headers
/// alone; Spin's trigger does not set `TCP_NODELAY`, so the body then waits
/// for the client's delayed ACK (about 40 ms) on a keep-alive connection.
fn send(response: Response, response_out: ResponseOutparam) {
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    if status_allows_body(response.status) {
        headers.push((
            "content-length".into(),
            response.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return response_out.set(outgoing);
    };
    let Ok(stream) = body.write() else {
        return response_out.set(outgoing);
    };
    let buffered = buffer_whole_body(&stream, &response.body);
    if buffered {
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
        response_out.set(outgoing);
    } else {
        // Larger than the host buffers before the response is sent (1 MiB
        // in wasmtime-wasi-http): stream it after handing the response over.
        response_out.set(outgoing);
        stream_rest(&stream, &response.body);
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

/// 204 and 304 answers carry no body and no `content-length`.
fn status_allows_body(status: u16) -> bool {
    !matches!(status, 204 | 304)
}

/// Writes the body into the host's buffer without waiting; false when the
/// host will not take all of it before the response is sent.
fn buffer_whole_body(stream: &OutputStream, bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return true;
    }
    match stream.check_write() {
        Ok(permitted) if permitted >= bytes.len() as u64 => stream.write(bytes).is_ok(),
        _ => false,
    }
}

/// The slow path for big bodies. A client that hung up is not worth a log
/// line per request: writing just stops.
fn stream_rest(stream: &OutputStream, bytes: &[u8]) {
    // `blocking-write-and-flush` takes at most 4096 bytes per call.
    for chunk in bytes.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
}
