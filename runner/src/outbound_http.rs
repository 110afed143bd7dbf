//! Outbound HTTP (`wasi:http/outgoing-handler`) gated as Spin gates it: a
//! request is sent only when the component's rendered
//! `allowed_outbound_hosts` lists its scheme, host and port (a missing port
//! means the scheme's default, 80 or 443). Anything else fails with the
//! wasi-http error `HTTP-request-denied`, never connects, and is logged with
//! the denied `scheme://host:port`. The denied request's body is still
//! taken (and dropped) as the guest writes it: a guest writes its body after
//! `handle` and reads the outcome from the response future afterwards, so a
//! body that went away at once would fail its writes with `closed` and hide
//! the denial. Allowed requests go through
//! wasmtime-wasi-http's default sender, which applies the guest's
//! `request-options` (connect, first-byte and between-bytes timeouts).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::Uri;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::AllowedHosts;

/// Where a request would go, as `allowed_outbound_hosts` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    scheme: String,
    /// As in the URI (an IPv6 address keeps its brackets); empty if none.
    host: String,
    /// The URI's port, or the scheme's default.
    port: Option<u16>,
}

impl Destination {
    pub fn of(uri: &Uri) -> Self {
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Destination {
            scheme,
            host: uri.host().unwrap_or("").to_owned(),
            port,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// The decision: `Ok` to send, or the destination that is not allowed.
pub fn check(allowed: &AllowedHosts, uri: &Uri) -> Result<(), Destination> {
    let dest = Destination::of(uri);
    let known_scheme = matches!(dest.scheme.as_str(), "http" | "https");
    if known_scheme && !dest.host.is_empty() && allowed.allows(&dest.scheme, &dest.host, dest.port)
    {
        Ok(())
    } else {
        Err(dest)
    }
}

/// The `WasiHttpHooks` of every request's store.
pub struct OutboundHttp {
    allowed: Arc<AllowedHosts>,
}

impl OutboundHttp {
    pub fn new(allowed: Arc<AllowedHosts>) -> Self {
        OutboundHttp { allowed }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        if let Err(dest) = check(&self.allowed, request.uri()) {
            eprintln!(
                "WARN A component tried to make an HTTP request to a non-allowed host: \
                 {dest}. To allow it, add \"{dest}\" to the component's allowed_outbound_hosts."
            );
            tokio::spawn(drain(request.into_body()));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // What the trait's default does.
        drop(fut);
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

/// Reads a body to its end (the guest finishing or dropping it), keeping nothing.
async fn drain(mut body: WasiBody) {
    while let Some(Ok(_)) = body.frame().await {}
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{Empty, StreamBody};
    use hyper::body::Frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn exact_host_and_port() {
        let a = allowed(&["http://127.0.0.1:8025"]);
        assert_eq!(check(&a, &uri("http://127.0.0.1:8025/hook")), Ok(()));
        let denied = check(&a, &uri("http://127.0.0.1:8026/hook")).unwrap_err();
        assert_eq!(denied.to_string(), "http://127.0.0.1:8026");
        assert!(check(&a, &uri("http://localhost:8025/hook")).is_err());
    }

    #[test]
    fn default_ports_on_both_sides() {
        let a = allowed(&["https://hooks.example.com"]);
        assert_eq!(check(&a, &uri("https://hooks.example.com/x")), Ok(()));
        assert_eq!(check(&a, &uri("https://HOOKS.example.com:443/x")), Ok(()));
        let denied = check(&a, &uri("https://hooks.example.com:8443/x")).unwrap_err();
        assert_eq!(denied.to_string(), "https://hooks.example.com:8443");
        let a = allowed(&["http://127.0.0.1"]);
        assert_eq!(check(&a, &uri("http://127.0.0.1/")), Ok(()));
        assert!(check(&a, &uri("http://127.0.0.1:8080/")).is_err());
    }

    #[test]
    fn wrong_scheme_is_denied() {
        let a = allowed(&["http://127.0.0.1:8025"]);
        let denied = check(&a, &uri("https://127.0.0.1:8025/hook")).unwrap_err();
        assert_eq!(denied.to_string(), "https://127.0.0.1:8025");
        // A Postgres entry allows no HTTP at all, whatever the port.
        let a = allowed(&["postgres://127.0.0.1:5432"]);
        assert!(check(&a, &uri("http://127.0.0.1:5432/")).is_err());
    }

    #[test]
    fn wildcards_and_allow_all() {
        let a = allowed(&["https://*.example.com"]);
        assert_eq!(check(&a, &uri("https://hooks.example.com/")), Ok(()));
        assert_eq!(check(&a, &uri("https://a.b.example.com:443/")), Ok(()));
        assert!(check(&a, &uri("https://example.com/")).is_err());
        assert!(check(&a, &uri("https://evil-example.com/")).is_err());
        assert!(check(&a, &uri("http://hooks.example.com/")).is_err());
        let a = allowed(&["*://*:*"]);
        assert_eq!(check(&a, &uri("http://anything:1/")), Ok(()));
        let a = allowed(&["insecure:allow-all"]);
        assert_eq!(check(&a, &uri("https://anything/")), Ok(()));
        assert!(check(&allowed(&[]), &uri("http://127.0.0.1/")).is_err());
    }

    #[test]
    fn ipv6_hosts() {
        let a = allowed(&["http://[::1]:8025"]);
        assert_eq!(check(&a, &uri("http://[::1]:8025/hook")), Ok(()));
        let denied = check(&a, &uri("http://[::1]:8026/hook")).unwrap_err();
        assert_eq!(denied.to_string(), "http://[::1]:8026");
    }

    fn request(uri: &str, body: WasiBody) -> http::Request<WasiBody> {
        http::Request::post(uri).body(body).unwrap()
    }

    fn empty() -> WasiBody {
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    /// A body fed through a one-frame channel, as a guest's outgoing body is.
    fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, WasiBody) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, Error>(Frame::data(chunk)), rx))
        });
        (tx, StreamBody::new(frames).boxed_unsync())
    }

    async fn send_with(
        hooks: &mut OutboundHttp,
        uri: &str,
        body: WasiBody,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let fut = hooks.send_request(request(uri, body), options, Box::new(async { Ok(()) }));
        let (response, io) = Pin::from(fut).await?;
        tokio::spawn(Pin::from(io));
        Ok(response)
    }

    async fn send(
        hooks: &mut OutboundHttp,
        uri: &str,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        send_with(hooks, uri, empty(), options).await
    }

    /// The hook itself: a denied request never reaches the listener, an
    /// allowed one is sent, and request-options timeouts apply.
    #[tokio::test]
    async fn hook_denies_without_connecting_and_sends_when_allowed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut hooks = OutboundHttp::new(Arc::new(allowed(&[&format!(
            "http://127.0.0.1:{}",
            port.wrapping_add(1)
        )])));
        let (body_tx, body) = channel_body();
        let err = send_with(
            &mut hooks,
            &format!("http://127.0.0.1:{port}/hook"),
            body,
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::HttpRequestDenied), "{err:?}");
        // The body is still taken as it is written, so the guest's writes
        // succeed and it learns of the denial from the future.
        for _ in 0..4 {
            tokio::time::timeout(
                Duration::from_secs(2),
                body_tx.send(Bytes::from_static(b"{}")),
            )
            .await
            .expect("a write to the denied request's body stalled")
            .expect("the denied request's body was dropped");
        }
        drop(body_tx);
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a denied request connected");

        let mut hooks =
            OutboundHttp::new(Arc::new(allowed(&[&format!("http://127.0.0.1:{port}")])));
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            let _ = head_tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            // The second connection: accepted, never answered.
            let (_silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let response = send(&mut hooks, &format!("http://127.0.0.1:{port}/hook"), None)
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let head = head_rx.await.unwrap();
        assert!(head.starts_with("POST /hook HTTP/1.1\r\n"), "{head}");

        let options = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(100)),
            ..RequestOptions::default()
        };
        let started = std::time::Instant::now();
        let err = send(
            &mut hooks,
            &format!("http://127.0.0.1:{port}/hook"),
            Some(options),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.abort();
    }
}
