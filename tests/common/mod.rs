//! The black-box harness: each test starts the real runner with the release
//! `.wasm` on a free port, against a database of its own that it creates,
//! migrates and drops (PostgreSQL, or SQLite with `SPIN_AUTH_TEST_BACKEND=sqlite`),
//! and speaks HTTP to it with a cookie-aware client, the way a browser or
//! curl would.
#![allow(dead_code)]

pub mod authenticator;
pub mod mailbox;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jwt_simple::prelude::*;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

pub const ADMIN_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The runner binary `make test` builds (`SPIN_AUTH_RUNNER` overrides).
pub fn runner_binary() -> PathBuf {
    std::env::var_os("SPIN_AUTH_RUNNER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/native/spin-auth-runner"))
}

/// A key pair for tests, generated once per test binary (never committed).
pub struct TestKeys {
    pub private_pem: String,
    pub public_pem: String,
}

fn generate_rsa_keys() -> TestKeys {
    let pair = RS256KeyPair::generate(2048).expect("generate RSA key");
    TestKeys {
        private_pem: pair.to_pem().expect("pem"),
        public_pem: pair.public_key().to_pem().expect("pem"),
    }
}

pub fn rsa_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(generate_rsa_keys)
}

/// A second RSA key (rotation and forgery tests).
pub fn other_rsa_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(generate_rsa_keys)
}

/// The backend the black-box suite runs against: `SPIN_AUTH_TEST_BACKEND`
/// is `postgres` (the default) or `sqlite`; `make test` runs the suite once
/// with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_env() -> Backend {
        match std::env::var("SPIN_AUTH_TEST_BACKEND").as_deref() {
            Ok("sqlite") => Backend::Sqlite,
            Ok("postgres") | Ok("") | Err(_) => Backend::Postgres,
            Ok(other) => panic!("SPIN_AUTH_TEST_BACKEND={other}: expected postgres or sqlite"),
        }
    }
}

/// A database of the test's own, dropped on drop: a PostgreSQL database
/// (connections and all), or a state directory holding Spin's `default`
/// SQLite database (`sqlite_db.db`).
pub struct TestDb {
    pub backend: Backend,
    pub name: String,
    /// The SQLite file, and the `--state-dir` that puts it there (none when
    /// it is the runner's default, `.spin/` next to the manifest).
    sqlite_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    _temp: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database of the backend under test.
    pub fn create() -> TestDb {
        match Backend::from_env() {
            Backend::Postgres => TestDb::create_postgres(),
            Backend::Sqlite => TestDb::create_sqlite(),
        }
    }

    /// A PostgreSQL database, whatever the backend under test (for tests of
    /// Postgres-only behaviour).
    pub fn create_postgres() -> TestDb {
        static CREATE: Mutex<()> = Mutex::new(());
        let name = unique_db_name();
        let _one_at_a_time = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        let mut admin = postgres::Client::connect(ADMIN_URL, postgres::NoTls)
            .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
        // Two statements: a multi-statement string runs as one transaction,
        // which DROP/CREATE DATABASE refuse.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .expect("drop a leftover test database");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create test database");
        TestDb {
            backend: Backend::Postgres,
            name,
            sqlite_file: None,
            state_dir: None,
            _temp: None,
        }
    }

    /// An empty state directory: the runner creates `sqlite_db.db` in it.
    pub fn create_sqlite() -> TestDb {
        let temp = tempfile::tempdir().expect("temporary state directory");
        TestDb {
            backend: Backend::Sqlite,
            name: unique_db_name(),
            sqlite_file: Some(temp.path().join("sqlite_db.db")),
            state_dir: Some(temp.path().to_owned()),
            _temp: Some(temp),
        }
    }

    /// Spin's default place for the `default` database of the app whose
    /// manifest is in `app_dir` (no `--state-dir`).
    pub fn sqlite_in_app_dir(app_dir: &std::path::Path) -> TestDb {
        TestDb {
            backend: Backend::Sqlite,
            name: unique_db_name(),
            sqlite_file: Some(app_dir.join(".spin/sqlite_db.db")),
            state_dir: None,
            _temp: None,
        }
    }

    /// The `database_url` the service gets.
    pub fn url(&self) -> String {
        match self.backend {
            Backend::Postgres => format!(
                "postgres://postgres@127.0.0.1:5432/{}?sslmode=disable",
                self.name
            ),
            Backend::Sqlite => "sqlite:default".into(),
        }
    }

    /// The runner's options that point it at this database.
    pub fn runner_args(&self) -> Vec<String> {
        match &self.state_dir {
            Some(dir) => vec!["--state-dir".into(), dir.display().to_string()],
            None => Vec::new(),
        }
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.sqlite_file.clone().expect("an SQLite test database")
    }

    pub fn client(&self) -> postgres::Client {
        assert_eq!(
            self.backend,
            Backend::Postgres,
            "a Postgres-only test helper"
        );
        let url = format!(
            "host=127.0.0.1 port=5432 user=postgres dbname={}",
            self.name
        );
        postgres::Client::connect(&url, postgres::NoTls).expect("connect to test database")
    }

    pub fn sqlite(&self) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open(self.sqlite_path()).expect("open test SQLite");
        connection
            .busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        connection
    }

    /// Runs SQL directly (to delete a user, unverify one, expire a session);
    /// write it in the SQL both dialects share, with [`TestDb::now`] and
    /// [`TestDb::seconds_ago`] for instants.
    pub fn execute(&self, statement: &str) -> u64 {
        match self.backend {
            Backend::Postgres => self.client().execute(statement, &[]).expect("test SQL"),
            Backend::Sqlite => self.sqlite().execute(statement, []).expect("test SQL") as u64,
        }
    }

    pub fn query_i64(&self, statement: &str) -> i64 {
        self.query_value(statement)
    }

    pub fn query_text(&self, statement: &str) -> String {
        self.query_value(statement)
    }

    /// The first column of the one row `statement` returns.
    fn query_value<T>(&self, statement: &str) -> T
    where
        T: for<'a> postgres::types::FromSql<'a> + rusqlite::types::FromSql,
    {
        match self.backend {
            Backend::Postgres => self
                .client()
                .query_one(statement, &[])
                .expect("test SQL")
                .get(0),
            Backend::Sqlite => self
                .sqlite()
                .query_row(statement, [], |row| row.get(0))
                .expect("test SQL"),
        }
    }

    /// The current instant, as the schema stores instants.
    pub fn now(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "now()",
            Backend::Sqlite => "(unixepoch() * 1000000)",
        }
    }

    /// An instant `secs` seconds ago, as the schema stores instants.
    pub fn seconds_ago(&self, secs: u32) -> String {
        match self.backend {
            Backend::Postgres => format!("(now() - interval '{secs} seconds')"),
            Backend::Sqlite => format!("((unixepoch() - {secs}) * 1000000)"),
        }
    }

    /// Whether the binary `column` contains the bytes of `text`.
    pub fn bytes_contain(&self, column: &str, text: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("position('{text}'::bytea in {column}) > 0"),
            Backend::Sqlite => format!("instr({column}, CAST('{text}' AS BLOB)) > 0"),
        }
    }

    /// Drops the Postgres database (connections and all), also under a
    /// running service.
    pub fn drop_now(&self) {
        assert_eq!(
            self.backend,
            Backend::Postgres,
            "a Postgres-only test helper"
        );
        if let Ok(mut admin) = postgres::Client::connect(ADMIN_URL, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend == Backend::Postgres {
            self.drop_now();
        }
    }
}

fn unique_db_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "spin_auth_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Applies the migrations of the database's dialect with the runner's `migrate`.
pub fn migrate(db: &TestDb) {
    let output = Command::new(runner_binary())
        .current_dir(repo_root())
        .args(["migrate", "--database-url", &db.url()])
        .args(db.runner_args())
        .output()
        .expect("run the runner's migrate (build it with `make build`)");
    assert!(
        output.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The variables every test service gets, before a test's own.
pub fn base_variables(db: &TestDb) -> Vec<(String, String)> {
    let keys = rsa_keys();
    [
        ("database_url", db.url()),
        ("database_host", "127.0.0.1:5432".into()),
        ("jwt_private_key", keys.private_pem.clone()),
        ("jwt_public_key", keys.public_pem.clone()),
        // Cookies over plain http in tests, as in local development.
        ("cookie_secure", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A running runner process serving the component.
pub struct Service {
    pub base: String,
    child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub db: Arc<TestDb>,
}

pub struct ServiceBuilder {
    db: Option<Arc<TestDb>>,
    variables: Vec<(String, String)>,
    args: Vec<String>,
    strict: bool,
}

impl ServiceBuilder {
    /// Serves from `db` (already set up) instead of a fresh migrated one.
    pub fn on(mut self, db: TestDb) -> Self {
        self.db = Some(Arc::new(db));
        self
    }

    /// An extra option for `spin-auth-runner up`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets (or overrides) a Spin variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.variables.retain(|(n, _)| n != name);
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn start(self) -> Service {
        let db = self.db.unwrap_or_else(|| {
            let db = TestDb::create();
            migrate(&db);
            Arc::new(db)
        });
        let mut variables = base_variables(&db);
        for (name, value) in self.variables {
            variables.retain(|(n, _)| *n != name);
            variables.push((name, value));
        }
        spawn_runner(db, &variables, &self.args, self.strict)
    }
}

impl Service {
    /// A fresh database and the default test configuration.
    pub fn start() -> Service {
        Service::builder().start()
    }

    pub fn builder() -> ServiceBuilder {
        ServiceBuilder {
            db: None,
            variables: Vec::new(),
            args: Vec::new(),
            strict: true,
        }
    }

    /// Another instance (a replica) on the same database and settings.
    pub fn replica(&self) -> ServiceBuilder {
        ServiceBuilder {
            db: Some(self.db.clone()),
            variables: Vec::new(),
            args: Vec::new(),
            strict: true,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client with its own cookie jar, like one browser.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    /// A client without cookies (curl without a jar, a mobile app).
    pub fn plain(&self) -> Client {
        Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    pub fn logs(&self) -> String {
        // The runner's stderr is read on another thread: a line written
        // while the answer left may land a moment after the client has it.
        std::thread::sleep(Duration::from_millis(150));
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_runner(
    db: Arc<TestDb>,
    variables: &[(String, String)],
    args: &[String],
    strict: bool,
) -> Service {
    let mut command = Command::new(runner_binary());
    command
        .current_dir(repo_root())
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--runtime-config-file",
            "runtime-config.toml",
        ])
        .args(db.runner_args())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if strict {
        command.arg("--strict");
    }
    for (name, _) in std::env::vars() {
        if name.starts_with("SPIN_VARIABLE_") || name.starts_with("AUTH_") {
            command.env_remove(name);
        }
    }
    for (name, value) in variables {
        command.env(
            format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    die_with_parent(&mut command);
    let mut child = command
        .spawn()
        .expect("start the runner (build it with `make build`)");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_lines = stderr.clone();
    let child_stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(child_stderr).lines().map_while(Result::ok) {
            if let Ok(mut lines) = stderr_lines.lock() {
                lines.push(line);
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(address) = line.strip_prefix("listening on ") {
                    break address.trim().to_owned();
                }
            }
            _ => {
                let _ = child.wait();
                let logs = stderr.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("the runner exited before listening:\n{logs}");
            }
        }
    };
    // Keep draining stdout so the runner never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Service {
        base,
        child,
        stderr,
        db,
    }
}

/// The runner dies with the test process, even if the test is killed.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A unique email for this process and test.
pub fn unique_email(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}@example.com",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub const PASSWORD: &str = "password123";

pub fn register_body(email: &str) -> Value {
    json!({"name": "Test User", "email": email, "password": PASSWORD, "passwordConfirm": PASSWORD})
}

pub fn post_json(client: &Client, url: &str, body: &Value) -> Response {
    client.post(url).json(body).send().expect("request")
}

/// Registers a user and returns its email.
pub fn register(service: &Service, client: &Client) -> String {
    let email = unique_email("user");
    let response = post_json(
        client,
        &service.url("/api/auth/register"),
        &register_body(&email),
    );
    assert_eq!(
        response.status(),
        201,
        "register: {}",
        response.text().unwrap_or_default()
    );
    email
}

/// Registers and logs in with `client` (whose jar then holds the cookies);
/// returns the login response's JSON and `Set-Cookie` headers.
pub fn register_and_login(service: &Service, client: &Client) -> (String, Value, Vec<String>) {
    let email = register(service, client);
    let (body, cookies) = login(service, client, &email);
    (email, body, cookies)
}

pub fn login(service: &Service, client: &Client, email: &str) -> (Value, Vec<String>) {
    let response = post_json(
        client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    assert_eq!(response.status(), 200, "login");
    let cookies = set_cookies(&response);
    (response.json().expect("login json"), cookies)
}

pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `Set-Cookie` value for cookie `name`.
pub fn cookie<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

/// The value of cookie `name` in `Set-Cookie` headers.
pub fn cookie_value(cookies: &[String], name: &str) -> String {
    let header = cookie(cookies, name);
    header[name.len() + 1..]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `{"detail": ...}` of a response.
pub fn detail(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().expect("json body");
    (status, body["detail"].clone())
}

/// Decodes a JWT part without verifying (to inspect headers and claims).
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let raw = token.split('.').nth(index).expect("jwt part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// Sends `n` requests at once (one thread each) and returns their statuses.
pub fn statuses_in_parallel(n: usize, send: impl Fn() -> Response + Sync) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| scope.spawn(|| send().status().as_u16()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A database fault the service survives: a registration is a plain `503`,
/// the healthchecker (which needs no database) still answers, and the log
/// gives the reason (`log_reason`).
pub fn assert_database_fault_is_503(service: &Service, log_reason: &str) {
    let client = service.plain();
    let response = post_json(
        &client,
        &service.url("/api/auth/register"),
        &register_body(&unique_email("fault")),
    );
    assert_eq!(
        detail(response),
        (503, json!("Service temporarily unavailable"))
    );
    let health = client
        .get(service.url("/api/healthchecker"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(service.logs().contains(log_reason), "{}", service.logs());
}

/// `GET /api/users/me` with `client`'s cookies; the status.
pub fn me_status(service: &Service, client: &Client) -> u16 {
    let response = client
        .get(service.url("/api/users/me"))
        .send()
        .expect("request");
    response.status().as_u16()
}

/// `POST /api/auth/refresh` with `client`'s cookies; the status.
pub fn refresh_status(service: &Service, client: &Client) -> u16 {
    let response = client
        .post(service.url("/api/auth/refresh"))
        .send()
        .expect("request");
    response.status().as_u16()
}

/// The `access_token` of a login answer.
pub fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The types of the user's security events, newest first.
pub fn event_types(service: &Service, token: &str) -> Vec<String> {
    let body: Value = service
        .plain()
        .get(service.url("/api/users/me/events"))
        .bearer_auth(token)
        .send()
        .expect("request")
        .json()
        .expect("events json");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}
