//! `mailbox`: a local email catcher for development. It receives the
//! Standard Webhooks POSTs the service sends for each email, checks their
//! signature, prints each email to stdout and keeps the newest ones in
//! memory: `GET /` shows them as an HTML page, `GET /messages` as JSON.
//!
//! A hook is `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature` (space-separated `v1,<base64>` entries, any one of
//! which may match) over `"<id>.<timestamp>.<body>"` with HMAC-SHA256, keyed
//! with the base64-decoded part of the `whsec_` secret.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};
use sha2::Sha256;
// The component's own escaping (its emails' html), so the inbox shows
// exactly what a mail client would.
use spin_auth::email::message::escape;
use tokio::net::TcpListener;

/// The largest hook body accepted (`413` beyond).
pub const MAX_BODY: usize = 256 * 1024;
/// How far `webhook-timestamp` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;
/// How many emails are kept (the oldest go first).
pub const CAPACITY: usize = 200;
/// How often the HTML inbox reloads itself.
const REFRESH_SECS: u32 = 3;

type HmacSha256 = Hmac<Sha256>;

/// The signing key: the base64-decoded part of `whsec_<base64>` (the prefix
/// may be left out, as the reference libraries allow).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>> {
    let secret = secret.trim();
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64
        .decode(encoded)
        .context("the webhook secret is not `whsec_` followed by base64")?;
    if key.is_empty() {
        bail!("the webhook secret is empty");
    }
    Ok(key)
}

/// The HMAC of `"<id>.<timestamp>.<body>"`. (HMAC takes keys of any
/// length, so `None` does not happen in practice.)
fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// `v1,<base64>`: the signature a sender puts in `webhook-signature`.
#[cfg(test)]
fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(key, id, timestamp, body)
        .unwrap()
        .finalize()
        .into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// Why a hook was refused (`401`); the text goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader(&'static str),
    BadTimestamp,
    StaleTimestamp { timestamp: i64, now: i64 },
    NoValidSignature,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::MissingHeader(name) => write!(f, "missing or non-ASCII `{name}` header"),
            Rejection::BadTimestamp => write!(f, "`webhook-timestamp` is not Unix seconds"),
            Rejection::StaleTimestamp { timestamp, now } => write!(
                f,
                "`webhook-timestamp` {timestamp} is more than {TOLERANCE_SECS}s from now ({now})"
            ),
            Rejection::NoValidSignature => {
                write!(
                    f,
                    "no `v1` signature in `webhook-signature` matches the secret"
                )
            }
        }
    }
}

/// The three headers, as sent.
#[derive(Debug, Clone, Copy)]
pub struct WebhookHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

impl<'a> WebhookHeaders<'a> {
    pub fn from_map(headers: &'a HeaderMap) -> Result<Self, Rejection> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or(Rejection::MissingHeader(name))
        };
        Ok(WebhookHeaders {
            id: get("webhook-id")?,
            timestamp: get("webhook-timestamp")?,
            signature: get("webhook-signature")?,
        })
    }
}

/// The timestamp check, done before the body is read.
pub fn check_timestamp(timestamp: &str, now: i64) -> Result<i64, Rejection> {
    let ts: i64 = timestamp.parse().map_err(|_| Rejection::BadTimestamp)?;
    if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Rejection::StaleTimestamp { timestamp: ts, now });
    }
    Ok(ts)
}

/// Verifies a hook: a fresh timestamp and at least one matching `v1`
/// signature (compared in constant time).
pub fn verify(
    key: &[u8],
    headers: &WebhookHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejection> {
    check_timestamp(headers.timestamp, now)?;
    let mac = mac(key, headers.id, headers.timestamp, body).ok_or(Rejection::NoValidSignature)?;
    let matches = headers.signature.split_whitespace().any(|entry| {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            return false;
        };
        BASE64
            .decode(encoded)
            .is_ok_and(|tag| mac.clone().verify_slice(&tag).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(Rejection::NoValidSignature)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One received email: the hook's body, plus when and under which id it came.
#[derive(Debug, Clone)]
struct Email {
    webhook_id: String,
    received_at: String,
    body: Map<String, Value>,
}

impl Email {
    fn field(&self, name: &str) -> &str {
        self.body.get(name).and_then(Value::as_str).unwrap_or("")
    }

    fn to_json(&self) -> Value {
        let mut object = self.body.clone();
        object.insert("webhook_id".into(), json!(self.webhook_id));
        object.insert("received_at".into(), json!(self.received_at));
        Value::Object(object)
    }

    /// The block printed to stdout (never the token on its own: it is in the link).
    fn summary(&self) -> String {
        let mut out = format!(
            "---- email received {} ----\n\
             type:    {}\n\
             to:      {}\n\
             subject: {}\n",
            self.received_at,
            self.field("type"),
            self.field("to"),
            self.field("subject"),
        );
        if !self.field("link").is_empty() {
            out.push_str(&format!("link:    {}\n", self.field("link")));
        }
        if !self.field("expires_at").is_empty() {
            out.push_str(&format!("expires: {}\n", self.field("expires_at")));
        }
        out
    }
}

/// The mailbox's state: the key and the newest emails first.
pub struct Mailbox {
    key: Vec<u8>,
    emails: Mutex<VecDeque<Email>>,
}

impl Mailbox {
    pub fn new(key: Vec<u8>) -> Self {
        Mailbox {
            key,
            emails: Mutex::new(VecDeque::new()),
        }
    }

    fn emails(&self) -> std::sync::MutexGuard<'_, VecDeque<Email>> {
        self.emails.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an email; `false` if one with the same webhook id is already
    /// there (a retried delivery).
    fn store(&self, email: Email) -> bool {
        let mut emails = self.emails();
        if emails.iter().any(|e| e.webhook_id == email.webhook_id) {
            return false;
        }
        emails.push_front(email);
        emails.truncate(CAPACITY);
        true
    }

    fn messages_json(&self) -> String {
        let list: Vec<Value> = self.emails().iter().map(Email::to_json).collect();
        Value::Array(list).to_string()
    }

    fn inbox_html(&self) -> String {
        let emails = self.emails();
        let mut html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
             <title>spin-auth mailbox ({})</title>\
             <style>body{{font-family:sans-serif;margin:2em;max-width:60em}}\
             article{{border:1px solid #ccc;border-radius:6px;padding:0 1em;margin:1em 0}}\
             dt{{font-weight:bold;float:left;width:6em}}dd{{margin-left:7em}}\
             pre{{background:#f6f6f6;padding:1em;white-space:pre-wrap}}</style>\
             </head><body><h1>Development mailbox</h1>\
             <p>{} email(s), newest first; this page reloads every {REFRESH_SECS} s.</p>\n",
            emails.len(),
            emails.len()
        );
        for email in emails.iter() {
            let link = email.field("link");
            let link_html = if link.starts_with("http://") || link.starts_with("https://") {
                format!("<a href=\"{0}\">{0}</a>", escape(link))
            } else {
                escape(link)
            };
            html.push_str(&format!(
                "<article><h2>{}</h2><dl>\
                 <dt>to</dt><dd>{}</dd>\
                 <dt>type</dt><dd>{}</dd>\
                 <dt>received</dt><dd>{}</dd>\
                 <dt>link</dt><dd>{}</dd>\
                 </dl><pre>{}</pre></article>\n",
                escape(email.field("subject")),
                escape(email.field("to")),
                escape(email.field("type")),
                escape(&email.received_at),
                link_html,
                escape(email.field("text")),
            ));
        }
        html.push_str("</body></html>\n");
        html
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body)
}

async fn handle(mailbox: Arc<Mailbox>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method();
    if method == Method::POST {
        return receive(&mailbox, req).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match req.uri().path() {
        "/" => {
            let mut r = response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                mailbox.inbox_html(),
            );
            // The page needs no script and no outside resource.
            r.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            );
            r
        }
        "/messages" => response(StatusCode::OK, "application/json", mailbox.messages_json()),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn receive(mailbox: &Mailbox, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let reject = |why: &dyn std::fmt::Display| {
        eprintln!("WARN mailbox: refused POST {path}: {why}");
        text(StatusCode::UNAUTHORIZED, "webhook verification failed\n")
    };
    let (parts, body) = req.into_parts();
    let headers = match WebhookHeaders::from_map(&parts.headers) {
        Ok(h) => h,
        Err(why) => return reject(&why),
    };
    if let Err(why) = check_timestamp(headers.timestamp, unix_now()) {
        return reject(&why);
    }
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        eprintln!("WARN mailbox: refused POST {path}: body over {MAX_BODY} bytes");
        text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n")
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            eprintln!("WARN mailbox: POST {path}: reading the body failed: {e}");
            return text(StatusCode::BAD_REQUEST, "unreadable body\n");
        }
    };
    if let Err(why) = verify(&mailbox.key, &headers, &body, unix_now()) {
        return reject(&why);
    }
    let object = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => object,
        _ => {
            eprintln!("WARN mailbox: POST {path}: signed, but the body is not a JSON object");
            return text(StatusCode::BAD_REQUEST, "the body is not a JSON object\n");
        }
    };
    let email = Email {
        webhook_id: headers.id.to_owned(),
        received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        body: object,
    };
    let summary = email.summary();
    if mailbox.store(email) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(summary.as_bytes());
        let _ = out.flush();
    } else {
        eprintln!(
            "INFO mailbox: webhook-id {} already received; not stored again",
            headers.id
        );
    }
    let mut ok = Response::new(Full::new(Bytes::new()));
    *ok.status_mut() = StatusCode::NO_CONTENT;
    ok
}

/// Serves `mailbox` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    mailbox: Arc<Mailbox>,
    shutdown: impl Future<Output = Result<()>>,
) -> Result<()> {
    let graceful = crate::server::serve_connections(&listener, shutdown, move |req, _peer| {
        handle(mailbox.clone(), req)
    })
    .await?;
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
    Ok(())
}

/// `spin-auth-runner mailbox`: runs until SIGINT/SIGTERM.
pub async fn run(listen: SocketAddr, secret: &str) -> Result<()> {
    let key = decode_secret(secret)?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "mailbox: inbox at http://{local}/ (JSON at /messages); \
             send hooks to http://{local}/hook"
        )?;
        out.flush()?;
    }
    serve(
        listener,
        Arc::new(Mailbox::new(key)),
        crate::server::shutdown_signal(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: &str = "1614265330";
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders {
            id,
            timestamp: ts,
            signature: sig,
        }
    }

    #[test]
    fn standard_webhooks_example() {
        let key = decode_secret(SPEC_SECRET).unwrap();
        assert_eq!(
            sign(&key, SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes()),
            SPEC_SIGNATURE
        );
        let now = SPEC_TS.parse::<i64>().unwrap();
        assert_eq!(
            verify(
                &key,
                &headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE),
                SPEC_BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn known_vector_computed_independently() {
        // HMAC-SHA256 over "<id>.<ts>.<body>" computed here in one piece.
        let key = b"0123456789abcdef0123456789abcdef";
        let secret = format!("whsec_{}", BASE64.encode(key));
        let mut m = HmacSha256::new_from_slice(key).unwrap();
        m.update(b"msg_1.1700000000.{\"type\":\"email.verification\"}");
        let expected = format!("v1,{}", BASE64.encode(m.finalize().into_bytes()));
        let decoded = decode_secret(&secret).unwrap();
        assert_eq!(decoded, key);
        let body = br#"{"type":"email.verification"}"#;
        assert_eq!(sign(&decoded, "msg_1", "1700000000", body), expected);
        assert_eq!(
            verify(
                &decoded,
                &headers("msg_1", "1700000000", &expected),
                body,
                1_700_000_010
            ),
            Ok(())
        );
        // The prefix is optional, as in the reference libraries.
        assert_eq!(decode_secret(&BASE64.encode(key)).unwrap(), key);
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_").is_err());
    }

    #[test]
    fn wrong_secret_or_tampered_body_is_refused() {
        let key = decode_secret(SPEC_SECRET).unwrap();
        let other = decode_secret("whsec_c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1zYW1l").unwrap();
        let now = SPEC_TS.parse::<i64>().unwrap();
        let h = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
        assert_eq!(
            verify(&other, &h, SPEC_BODY.as_bytes(), now),
            Err(Rejection::NoValidSignature)
        );
        assert_eq!(
            verify(&key, &h, br#"{"test": 2432232315}"#, now),
            Err(Rejection::NoValidSignature)
        );
        // Another id or timestamp changes the signed content.
        assert!(verify(
            &key,
            &headers("msg_other", SPEC_TS, SPEC_SIGNATURE),
            SPEC_BODY.as_bytes(),
            now
        )
        .is_err());
        assert!(verify(
            &key,
            &headers(SPEC_ID, "1614265331", SPEC_SIGNATURE),
            SPEC_BODY.as_bytes(),
            now
        )
        .is_err());
        // Garbage and other versions never match.
        for sig in [
            "v1,",
            "v1,!!!",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert_eq!(
                verify(
                    &key,
                    &headers(SPEC_ID, SPEC_TS, sig),
                    SPEC_BODY.as_bytes(),
                    now
                ),
                Err(Rejection::NoValidSignature),
                "{sig}"
            );
        }
    }

    #[test]
    fn stale_or_future_timestamp_is_refused() {
        let key = decode_secret(SPEC_SECRET).unwrap();
        let ts = SPEC_TS.parse::<i64>().unwrap();
        let h = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
        let body = SPEC_BODY.as_bytes();
        assert_eq!(verify(&key, &h, body, ts + TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(&key, &h, body, ts - TOLERANCE_SECS), Ok(()));
        assert_eq!(
            verify(&key, &h, body, ts + TOLERANCE_SECS + 1),
            Err(Rejection::StaleTimestamp {
                timestamp: ts,
                now: ts + TOLERANCE_SECS + 1
            })
        );
        assert!(matches!(
            verify(&key, &h, body, ts - TOLERANCE_SECS - 1),
            Err(Rejection::StaleTimestamp { .. })
        ));
        assert_eq!(
            verify(&key, &headers(SPEC_ID, "soon", SPEC_SIGNATURE), body, ts),
            Err(Rejection::BadTimestamp)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let key = decode_secret(SPEC_SECRET).unwrap();
        let now = SPEC_TS.parse::<i64>().unwrap();
        let body = SPEC_BODY.as_bytes();
        let several = format!("v1,Zm9vYmFy v1a,abc {SPEC_SIGNATURE}");
        assert_eq!(
            verify(&key, &headers(SPEC_ID, SPEC_TS, &several), body, now),
            Ok(())
        );
        let first = format!("{SPEC_SIGNATURE}  v1,Zm9vYmFy");
        assert_eq!(
            verify(&key, &headers(SPEC_ID, SPEC_TS, &first), body, now),
            Ok(())
        );
        let none = "v1,Zm9vYmFy v1,YmFyYmF6";
        assert_eq!(
            verify(&key, &headers(SPEC_ID, SPEC_TS, none), body, now),
            Err(Rejection::NoValidSignature)
        );
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#x27;Jerry&#x27;&lt;/a&gt;"
        );
    }

    /// One HTTP/1.1 exchange over a plain TCP connection: (status, body).
    async fn exchange(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> (u16, String) {
        exchange_declaring(addr, method, path, headers, body, body.len()).await
    }

    /// The same with a `content-length` of the caller's choice.
    async fn exchange_declaring(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
        content_length: usize,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
             content-length: {content_length}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let status = raw[9..12].parse().unwrap();
        let (_, body) = raw.split_once("\r\n\r\n").unwrap();
        (status, body.to_owned())
    }

    fn signed(key: &[u8], id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".to_owned()),
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sign(key, id, &ts.to_string(), body)),
        ]
    }

    #[tokio::test]
    async fn receives_signed_email_and_lists_it() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(Mailbox::new(key.clone())),
            async move {
                let _ = stop_rx.await;
                Ok(())
            },
        ));

        let email = json!({
            "type": "email.verification",
            "to": "ada@example.com",
            "user": {"id": "u1", "email": "ada@example.com"},
            "token": "tok123",
            "link": "http://localhost:3000/verify-email#token=tok123&x=<y>",
            "expires_at": "2030-01-01T00:00:00Z",
            "subject": "Verify <your> email",
            "text": "Hello Ada & friends,\nopen the link.",
            "html": "<p>Hello</p>"
        })
        .to_string();
        let body = email.as_bytes();
        let now = unix_now();

        // Unsigned, wrongly signed, stale: refused, nothing stored.
        let (status, _) = exchange(addr, "POST", "/hook", &[], body).await;
        assert_eq!(status, 401);
        let mut bad = signed(&key, "msg_1", now, body);
        bad[3].1 = sign(b"another key", "msg_1", &now.to_string(), body);
        assert_eq!(exchange(addr, "POST", "/hook", &bad, body).await.0, 401);
        let stale = signed(&key, "msg_1", now - 301, body);
        assert_eq!(exchange(addr, "POST", "/hook", &stale, body).await.0, 401);
        // Too large: refused from its declared length, before it is read.
        let h = signed(&key, "msg_big", now, b"");
        let (status, _) = exchange_declaring(addr, "POST", "/hook", &h, b"", MAX_BODY + 1).await;
        assert_eq!(status, 413);
        assert_eq!(
            exchange(addr, "GET", "/messages", &[], b"").await,
            (200, "[]".to_owned())
        );

        // Signed: accepted once, a retry with the same id is not stored twice.
        let h = signed(&key, "msg_1", now, body);
        assert_eq!(exchange(addr, "POST", "/hook", &h, body).await.0, 204);
        assert_eq!(exchange(addr, "POST", "/hook", &h, body).await.0, 204);

        let (status, list) = exchange(addr, "GET", "/messages", &[], b"").await;
        assert_eq!(status, 200);
        let list: Value = serde_json::from_str(&list).unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["to"], "ada@example.com");
        assert_eq!(list[0]["type"], "email.verification");
        assert_eq!(list[0]["token"], "tok123");
        assert_eq!(list[0]["webhook_id"], "msg_1");

        let (status, page) = exchange(addr, "GET", "/", &[], b"").await;
        assert_eq!(status, 200);
        assert!(page.contains("Verify &lt;your&gt; email"), "{page}");
        assert!(page.contains("ada@example.com"));
        assert!(
            page.contains(
                "<a href=\"http://localhost:3000/verify-email#token=tok123&amp;x=&lt;y&gt;\">"
            ),
            "{page}"
        );
        assert!(
            page.contains("<pre>Hello Ada &amp; friends,\nopen the link.</pre>"),
            "{page}"
        );
        assert!(!page.contains("<p>Hello</p>"));
        assert!(page.contains("http-equiv=\"refresh\""));

        // Newest first.
        let second = json!({"type": "email.password_changed", "to": "bob@example.com", "subject": "s", "text": "t", "html": "h"}).to_string();
        let h = signed(&key, "msg_2", now, second.as_bytes());
        assert_eq!(
            exchange(addr, "POST", "/other/path", &h, second.as_bytes())
                .await
                .0,
            204
        );
        let (_, list) = exchange(addr, "GET", "/messages", &[], b"").await;
        let list: Value = serde_json::from_str(&list).unwrap();
        assert_eq!(list[0]["to"], "bob@example.com");
        assert_eq!(list[1]["to"], "ada@example.com");

        assert_eq!(exchange(addr, "GET", "/nope", &[], b"").await.0, 404);
        assert_eq!(exchange(addr, "DELETE", "/", &[], b"").await.0, 405);

        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn keeps_at_most_capacity_newest_first() {
        let mailbox = Mailbox::new(vec![1]);
        for i in 0..CAPACITY + 5 {
            mailbox.store(Email {
                webhook_id: format!("msg_{i}"),
                received_at: String::new(),
                body: Map::new(),
            });
        }
        let emails = mailbox.emails();
        assert_eq!(emails.len(), CAPACITY);
        assert_eq!(emails[0].webhook_id, format!("msg_{}", CAPACITY + 4));
        assert_eq!(emails[CAPACITY - 1].webhook_id, "msg_5");
    }
}
