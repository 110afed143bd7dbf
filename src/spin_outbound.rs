//! The Spin edge of outbound HTTP: the email hook's POST through
//! `wasi:http/outgoing-handler`, which Spin allows only to the hosts in
//! `allowed_outbound_hosts` (`{{ email_webhook_host }}`). The hook gets at
//! most 2 s to connect and 3 s to its first byte; its body is never read.

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};

use crate::email::{HookAnswer, Transport};

const CONNECT_TIMEOUT_NS: u64 = 2_000_000_000;
const FIRST_BYTE_TIMEOUT_NS: u64 = 3_000_000_000;

pub struct SpinHttp;

impl Transport for SpinHttp {
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> HookAnswer {
        match post(url, headers, body) {
            Ok(status) => HookAnswer::Status(status),
            Err(reason) => HookAnswer::Failed(reason),
        }
    }
}

fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String> {
    let url = crate::config::parse_http_url(url)?;
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
        .chain([(
            "content-length".to_owned(),
            body.len().to_string().into_bytes(),
        )])
        .collect();
    let fields = Fields::from_list(&fields).map_err(|e| format!("headers: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let scheme = match url.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    let authority = url
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("the URL has no host")?;
    let path = url
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let set = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(&authority)).is_ok()
        && request.set_path_with_query(Some(&path)).is_ok();
    if !set {
        return Err("the host refused the request's URL".into());
    }
    let options = RequestOptions::new();
    // A host that does not support a timeout keeps its own.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(FIRST_BYTE_TIMEOUT_NS));
    let outgoing_body = request.body().map_err(|_| "no request body".to_owned())?;
    // Handed over first, so that the host consumes the body as it is written.
    let future = outgoing_handler::handle(request, Some(options)).map_err(describe)?;
    write_body(&outgoing_body, body)?;
    OutgoingBody::finish(outgoing_body, None).map_err(describe)?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(error))) => Err(describe(error)),
        _ => Err("no response".into()),
    }
}

fn write_body(outgoing: &OutgoingBody, body: &[u8]) -> Result<(), String> {
    let stream = outgoing.write().map_err(|_| "no body stream".to_owned())?;
    // `blocking-write-and-flush` takes at most 4096 bytes per call.
    for chunk in body.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| format!("writing the body: {e:?}"))?;
    }
    Ok(())
}

/// The wasi-http error, named (`HTTP-request-denied` when
/// `allowed_outbound_hosts` does not list the hook's host).
fn describe(error: ErrorCode) -> String {
    match error {
        ErrorCode::HttpRequestDenied => {
            "HTTP-request-denied (is email_webhook_host the scheme://host:port of \
             email_webhook_url? spin.toml allows only that host)"
                .into()
        }
        ErrorCode::ConnectionTimeout => "connection timeout (2 s)".into(),
        ErrorCode::ConnectionReadTimeout => "no answer within 3 s".into(),
        other => format!("{other:?}"),
    }
}
