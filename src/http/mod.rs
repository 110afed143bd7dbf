//! HTTP as the domain sees it: plain request and response values (no Spin
//! types), routing, body parsing, cookies, credentials (Bearer before
//! cookie), CORS and CSRF, and the one `ApiError` -> response map.
//! `crate::spin` converts Spin's request into [`Request`] and [`Response`]
//! back.

pub mod body;
pub mod cookies;
pub mod cors;
pub mod credentials;
pub mod errors;
mod router;

pub use router::{route, routes};

use serde::Serialize;

/// How much of a `User-Agent` a session and its events keep.
pub const USER_AGENT_CHARS: usize = 256;

/// `%XX` and `+` decoded; invalid escapes are kept as they are, invalid
/// UTF-8 replaced.
fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Request bodies larger than this are refused with `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request body as the Spin edge read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Bytes(Vec<u8>),
    /// More than [`MAX_BODY_BYTES`] were sent; the rest was never read.
    TooLarge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// What followed `?` in the URL (empty without one).
    pub query: String,
    /// Header names are lower case.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.to_owned();
        self
    }

    /// The first value of a query parameter, percent-decoded (`+` is a
    /// space); `None` when absent.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == name).then(|| percent_decode(value))
        })
    }

    /// The client's IP address as Spin reports it (`spin-client-addr`,
    /// the last one: Spin appends its own after any a client sent), without
    /// the port. Never `X-Forwarded-For`, which any client can write.
    pub fn client_ip(&self) -> Option<String> {
        let address = self
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n == "spin-client-addr")
            .map(|(_, v)| v.trim())?;
        if let Ok(socket) = address.parse::<std::net::SocketAddr>() {
            return Some(socket.ip().to_string());
        }
        address
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_string())
    }

    /// The `User-Agent`, cut at 256 characters.
    pub fn user_agent(&self) -> Option<String> {
        self.header("user-agent")
            .map(|agent| agent.chars().take(USER_AGENT_CHARS).collect())
    }

    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body = Body::Bytes(body.to_vec());
        self
    }

    /// The first value of a header (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The credential from `Authorization: Bearer <token>`, if that header is
    /// present with the Bearer scheme (an empty token counts as absent).
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Whether an `Authorization` header with the Bearer scheme was sent at
    /// all: if so it is the credential and cookies are ignored.
    pub fn has_bearer_header(&self) -> bool {
        self.header("authorization")
            .and_then(|v| v.trim().split(' ').next())
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .find_map(|(_, v)| cookies::find(v, name))
    }

    /// The scheme and host the client used, as Spin reports them in the
    /// `spin-full-url` header (`http://127.0.0.1:8000`).
    pub fn own_origin(&self) -> Option<String> {
        // Spin appends its own header after any a client sent: the last one
        // is Spin's.
        let url = self
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n == "spin-full-url")
            .map(|(_, v)| v.as_str())?;
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split(['/', '?', '#']).next()?;
        Some(format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Names lower case; `set-cookie` may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        // Serialising our own response types cannot fail; fall back to an
        // empty object rather than panicking if it ever did.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Replaces a header (for headers that must appear once).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// Adds a header that may repeat (`set-cookie`).
    pub fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// Adds one `Set-Cookie` header.
    pub fn add_cookie(&mut self, cookie: &cookies::SetCookie) {
        self.add_header("set-cookie", &cookie.render());
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
