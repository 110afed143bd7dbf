//! The HTTP trigger: a hyper HTTP/1 server that runs each request in a fresh
//! component instance (from a `ProxyPre`), like `spin up` and `wasmtime serve`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use io_state::RequestState;
use std::io::Write;
use tokio::net::TcpListener;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::allowed_hosts::AllowedHosts;
use crate::manifest::Route;
use crate::outbound_http::OutboundHttp;
use crate::postgres::PgHost;
use crate::sqlite::SqliteHost;
use crate::App;

/// How long in-flight requests may run after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const INTERNAL_ERROR_BODY: &str = "{\"detail\":\"Internal Server Error\"}";

mod io_state {
    use std::collections::HashMap;
    use std::sync::Arc;

    use wasmtime::component::ResourceTable;
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
    use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

    use crate::outbound_http::OutboundHttp;
    use crate::postgres::PgHost;
    use crate::sqlite::SqliteHost;

    /// The `T` of each request's `Store<T>`.
    pub struct RequestState {
        pub wasi: WasiCtx,
        pub http: WasiHttpCtx,
        /// Gates `wasi:http/outgoing-handler` by `allowed_outbound_hosts`.
        pub outbound: OutboundHttp,
        pub table: ResourceTable,
        /// The component's variables (rendered once at startup).
        pub variables: Arc<HashMap<String, String>>,
        pub component_id: Arc<str>,
        pub pg: Arc<PgHost>,
        pub sqlite: Arc<SqliteHost>,
    }

    impl WasiView for RequestState {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }

    impl WasiHttpView for RequestState {
        fn http(&mut self) -> WasiHttpCtxView<'_> {
            WasiHttpCtxView {
                ctx: &mut self.http,
                table: &mut self.table,
                hooks: &mut self.outbound,
            }
        }
    }
}

struct Server {
    pre: ProxyPre<RequestState>,
    route: Route,
    variables: Arc<HashMap<String, String>>,
    component_id: Arc<str>,
    pg: Arc<PgHost>,
    sqlite: Arc<SqliteHost>,
    /// The rendered `allowed_outbound_hosts`, for outbound HTTP.
    allowed_hosts: Arc<AllowedHosts>,
}

pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.memory_init_cow(true);

    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(1000)
        .total_memories(1000)
        .total_tables(1000)
        .total_stacks(1000)
        .max_memory_size(256 << 20)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_core_instances_per_component(64)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(100_000)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(1 << 20);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            eprintln!("WARN pooling allocator unavailable ({e}); using on-demand allocation");
            Engine::new(&config).map_err(anyhow::Error::from)
        }
    }
}

fn linker(engine: &Engine) -> Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::bindings::AuthHost::add_to_linker::<RequestState, HasSelf<RequestState>>(
        &mut linker,
        |state| state,
    )?;
    Ok(linker)
}

pub async fn serve(app: App, listen: SocketAddr, strict: bool) -> Result<()> {
    let engine = engine()?;
    let cache_dir = app.manifest.dir.join(".spin").join("runner-cache");
    let component =
        crate::compile_cache::load_component(&engine, &app.manifest.component.source, &cache_dir)?;
    let linker = linker(&engine)?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .context("the component's imports cannot be satisfied")?;
    let pre = ProxyPre::new(instance_pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export wasi:http/incoming-handler@0.2.x")?;

    let allowed_hosts = AllowedHosts::parse(&app.allowed_outbound_hosts)
        .with_context(|| format!("component `{}`", app.manifest.component.id))?;
    let server = Arc::new(Server {
        pre,
        route: app.manifest.trigger.route.clone(),
        variables: Arc::new(app.component_variables),
        component_id: Arc::from(app.manifest.component.id.as_str()),
        pg: Arc::new(PgHost::new(allowed_hosts.clone(), strict)),
        allowed_hosts: Arc::new(allowed_hosts),
        sqlite: Arc::new(SqliteHost::new(
            app.sqlite_paths.clone(),
            &app.manifest.component.sqlite_databases,
        )),
    });

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }
    if strict {
        eprintln!("INFO strict mode: zero-row Postgres queries are errors");
    }
    for label in &app.manifest.component.sqlite_databases {
        if let Some(path) = app.sqlite_paths.get(label) {
            eprintln!("INFO SQLite database `{label}`: {}", path.display());
        }
    }

    let graceful = serve_connections(&listener, shutdown_signal(), move |req, peer| {
        server.clone().handle(req, peer)
    })
    .await?;

    drop(listener);
    eprintln!("INFO shutting down: waiting for in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("WARN shutdown: in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// Serves HTTP/1.1 (keep-alive) on `listener`, each request by `handle`,
/// until `shutdown` resolves; then stops accepting and returns the
/// connections still open, for the caller to wait on.
pub(crate) async fn serve_connections<F, Fut, B>(
    listener: &TcpListener,
    shutdown: impl Future<Output = Result<()>>,
    handle: F,
) -> Result<GracefulShutdown>
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("WARN accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // No `TCP_NODELAY`: Spin's HTTP trigger leaves Nagle's
                // algorithm on, so a response written in two pieces stalls
                // here as it does there (see README, "The runner and Spin").
                let handle = handle.clone();
                let service = hyper::service::service_fn(move |req| {
                    let response = handle(req, peer);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Client resets and the like are not the server's problem.
                    let _ = conn.await;
                });
            }
            signal = &mut shutdown => {
                signal?;
                return Ok(graceful);
            }
        }
    }
}

pub(crate) async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

impl Server {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        // Microseconds spent instantiating the component (the per-request
        // overhead `make bench` reports), set by the request's task.
        let instantiate_us = Arc::new(AtomicU64::new(0));
        let response = match self.route.matches(&path).map(str::to_owned) {
            None => plain_response(StatusCode::NOT_FOUND, "Not Found"),
            Some(path_info) => match self
                .run_component(req, peer, &path_info, instantiate_us.clone())
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    eprintln!("ERROR method={method} path={path} component failed: {e:#}");
                    internal_error()
                }
            },
        };
        let status = response.status().as_u16();
        let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        let instantiate_ms = instantiate_us.load(Ordering::Relaxed) as f64 / 1000.0;
        eprintln!(
            "INFO method={method} path={path} status={status} duration_ms={duration_ms:.1} \
             instantiate_ms={instantiate_ms:.3}"
        );
        response
    }

    async fn run_component(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        path_info: &str,
        instantiate_us: Arc<AtomicU64>,
    ) -> Result<Response<HyperOutgoingBody>> {
        let req = prepare_request(req, &self.route, path_info, peer)?;

        let mut wasi = wasmtime_wasi::WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        let state = RequestState {
            wasi: wasi.build(),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            outbound: OutboundHttp::new(self.allowed_hosts.clone()),
            table: wasmtime::component::ResourceTable::new(),
            variables: self.variables.clone(),
            component_id: self.component_id.clone(),
            pg: self.pg.clone(),
            sqlite: self.sqlite.clone(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = {
            use wasmtime_wasi_http::WasiHttpView;
            let mut http = store.data_mut().http();
            let incoming = http.new_incoming_request(Scheme::Http, req)?;
            let out = http.new_response_outparam(sender)?;
            (incoming, out)
        };
        let (incoming, out) = incoming;
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let proxy = pre.instantiate_async(&mut store).await?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            instantiate_us.store(micros, Ordering::Relaxed);
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });

        match receiver.await {
            Ok(Ok(response)) => {
                // The guest may still be streaming the body; report a late trap.
                tokio::spawn(async move {
                    match task.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            eprintln!("ERROR component failed after sending the response: {e:?}")
                        }
                        Err(e) => eprintln!("ERROR component task failed: {e}"),
                    }
                });
                Ok(response)
            }
            Ok(Err(code)) => Err(anyhow!("component returned an HTTP error: {code:?}")),
            Err(_) => {
                let e = match task.await {
                    Ok(Ok(())) => anyhow!("component never set a response"),
                    Ok(Err(e)) => anyhow::Error::from(e),
                    Err(e) => anyhow!("component task failed: {e}"),
                };
                Err(e.context("guest invocation failed"))
            }
        }
    }
}

/// Spin's request preparation: Spin's own `spin-*` headers are appended
/// after the client's, and the URI becomes absolute (`http://<Host header>/...`).
fn prepare_request(
    req: Request<Incoming>,
    route: &Route,
    path_info: &str,
    peer: SocketAddr,
) -> Result<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());

    // Spin keeps the client's headers, `spin-*` ones included, and appends
    // its own after them: a component must read the last value.
    for (name, value) in spin_headers(&host, &path_and_query, route, path_info, peer) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            parts.headers.append(HeaderName::from_static(name), value);
        }
    }

    let authority = if host.parse::<http::uri::Authority>().is_ok() {
        host
    } else {
        "localhost".to_owned()
    };
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .context("building the request URI")?;
    Ok(Request::from_parts(parts, body))
}

/// The headers Spin's HTTP trigger adds for the component.
pub fn spin_headers(
    host: &str,
    path_and_query: &str,
    route: &Route,
    path_info: &str,
    peer: SocketAddr,
) -> Vec<(&'static str, String)> {
    vec![
        ("spin-path-info", path_info.to_owned()),
        ("spin-full-url", format!("http://{host}{path_and_query}")),
        ("spin-matched-route", route.raw()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", route.raw()),
        ("spin-component-route", route.prefix().to_owned()),
        ("spin-client-addr", peer.to_string()),
    ]
}

fn full_body(body: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn plain_response(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    response
}

fn internal_error() -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(INTERNAL_ERROR_BODY));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

// ---- host interfaces ----------------------------------------------------------

mod host_impls {
    use wasmtime::component::Resource;

    use super::io_state::RequestState;
    use crate::bindings::{pg, sqlite, variables};
    use crate::postgres::PgConnection;
    use crate::sqlite::SqliteConnection;
    use crate::template::validate_name;

    impl variables::Host for RequestState {
        async fn get(&mut self, name: String) -> Result<String, variables::Error> {
            validate_name(&name).map_err(variables::Error::InvalidName)?;
            self.variables.get(&name).cloned().ok_or_else(|| {
                variables::Error::Undefined(format!(
                    "no variable for {:?}.{:?}",
                    &*self.component_id, name
                ))
            })
        }
    }

    impl pg::Host for RequestState {}

    fn no_connection() -> pg::Error {
        pg::Error::ConnectionFailed("no connection found".into())
    }

    impl pg::HostConnection for RequestState {
        async fn open(&mut self, address: String) -> Result<Resource<PgConnection>, pg::Error> {
            let conn = self.pg.open(&address).await?;
            self.table
                .push(conn)
                .map_err(|_| pg::Error::ConnectionFailed("too many connections".into()))
        }

        async fn query(
            &mut self,
            conn: Resource<PgConnection>,
            statement: String,
            params: Vec<pg::ParameterValue>,
        ) -> Result<pg::RowSet, pg::Error> {
            let client = self.table.get(&conn).map_err(|_| no_connection())?;
            self.pg.query(client, &statement, &params).await
        }

        async fn execute(
            &mut self,
            conn: Resource<PgConnection>,
            statement: String,
            params: Vec<pg::ParameterValue>,
        ) -> Result<u64, pg::Error> {
            let client = self.table.get(&conn).map_err(|_| no_connection())?;
            self.pg.execute(client, &statement, &params).await
        }

        async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
            self.table.delete(conn)?;
            Ok(())
        }
    }

    impl sqlite::Host for RequestState {}

    impl sqlite::HostConnection for RequestState {
        async fn open(
            &mut self,
            database: String,
        ) -> Result<Resource<SqliteConnection>, sqlite::Error> {
            let conn = self.sqlite.open(&database)?;
            self.table
                .push(conn)
                .map_err(|_| sqlite::Error::Io("too many connections".into()))
        }

        async fn execute(
            &mut self,
            conn: Resource<SqliteConnection>,
            statement: String,
            parameters: Vec<sqlite::Value>,
        ) -> Result<sqlite::QueryResult, sqlite::Error> {
            let conn = self
                .table
                .get(&conn)
                .map_err(|_| sqlite::Error::InvalidConnection)?;
            self.sqlite.execute(conn, &statement, parameters)
        }

        async fn last_insert_rowid(&mut self, conn: Resource<SqliteConnection>) -> i64 {
            self.table
                .get(&conn)
                .map_or(0, |c| self.sqlite.last_insert_rowid(c))
        }

        async fn changes(&mut self, conn: Resource<SqliteConnection>) -> u64 {
            self.table.get(&conn).map_or(0, |c| self.sqlite.changes(c))
        }

        async fn drop(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<()> {
            let _ = self.table.delete(conn);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_headers_for_catch_all_route() {
        let route = Route::parse("/...").unwrap();
        let peer: SocketAddr = "127.0.0.1:51234".parse().unwrap();
        let headers: HashMap<_, _> = spin_headers(
            "127.0.0.1:8000",
            "/api/users/me?x=1",
            &route,
            route.matches("/api/users/me").unwrap(),
            peer,
        )
        .into_iter()
        .collect();
        assert_eq!(
            headers["spin-full-url"],
            "http://127.0.0.1:8000/api/users/me?x=1"
        );
        assert_eq!(headers["spin-path-info"], "/api/users/me");
        assert_eq!(headers["spin-matched-route"], "/...");
        assert_eq!(headers["spin-raw-component-route"], "/...");
        assert_eq!(headers["spin-component-route"], "");
        assert_eq!(headers["spin-base-path"], "/");
        assert_eq!(headers["spin-client-addr"], "127.0.0.1:51234");
    }

    #[test]
    fn spin_headers_for_prefixed_route() {
        let route = Route::parse("/foo/...").unwrap();
        let peer: SocketAddr = "127.0.0.1:8777".parse().unwrap();
        let headers: HashMap<_, _> =
            spin_headers("fermyon.dev", "/foo/bar?k=v", &route, "/bar", peer)
                .into_iter()
                .collect();
        assert_eq!(headers["spin-path-info"], "/bar");
        assert_eq!(headers["spin-matched-route"], "/foo/...");
        assert_eq!(headers["spin-component-route"], "/foo");
    }
}
