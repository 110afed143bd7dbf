//! `spin-auth-runner`: a small Spin-compatible host.
//!
//! `up` serves one Spin HTTP component the way `spin up` does (manifest,
//! variables, `spin:postgres/postgres@4.0.0`, `spin:sqlite/sqlite@3.0.0`,
//! per-request instances, outbound HTTP gated by `allowed_outbound_hosts`);
//! `migrate` applies the SQL migrations to the app's database, PostgreSQL or
//! SQLite; `mailbox` catches the emails the service hands to its webhook,
//! for local development.
// Workspace lints deny unwrap/expect/panic; tests may use them.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod allowed_hosts;
mod bindings;
mod compile_cache;
mod mailbox;
mod manifest;
mod migrate;
mod outbound_http;
mod pg_types;
mod postgres;
mod run_wasm;
mod runtime_config;
mod server;
mod sqlite;
mod template;
mod variables;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "spin-auth-runner",
    version,
    about = "Serve a Spin HTTP component the way `spin up` does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the application's HTTP trigger.
    Up(UpArgs),
    /// Apply the SQL migrations to the application's database (Postgres or SQLite).
    Migrate(MigrateArgs),
    /// Run a WASI command component (the crypto micro-benchmark) on the
    /// engine configuration `up` uses, with the current directory readable.
    RunWasm(RunWasmArgs),
    /// Catch the service's emails locally, for development (signed webhooks
    /// in; an inbox at `GET /`).
    #[command(
        long_about = "Catch the service's emails locally (for development).\n\n\
        Accepts Standard Webhooks POSTs on any path (e.g. /hook) signed with the \
        secret (webhook-id, webhook-timestamp within 5 minutes, webhook-signature \
        `v1,<base64 HMAC-SHA256>`), refuses unsigned or stale ones with 401, prints \
        each email to stdout and keeps the newest 200 in memory: GET / shows them \
        as a page, GET /messages as JSON. Point the service at it with \
        email_webhook_url=http://<listen>/hook, email_webhook_host=http://<listen> \
        and the same email_webhook_secret."
    )]
    Mailbox(MailboxArgs),
}

#[derive(Args, Debug)]
struct MailboxArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8025")]
    listen: SocketAddr,

    /// The webhook signing secret, `whsec_<base64>` (the service's
    /// `email_webhook_secret`); prefer the environment variable, which
    /// other users cannot see in the process list.
    #[arg(long, env = "MAILBOX_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
}

#[derive(Args, Debug)]
struct RunWasmArgs {
    /// An environment variable for the component (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The command component (`.wasm`).
    wasm: PathBuf,
    /// Arguments passed to the component (after the `.wasm`, options included).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args, Debug, Clone)]
struct AppArgs {
    /// The application manifest.
    #[arg(long = "from", short = 'f', default_value = "spin.toml")]
    from: PathBuf,

    /// A runtime configuration file (variables providers).
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,

    /// Set an application variable: `key=value`, or `key=@file` to read the value from a file.
    #[arg(long = "variable", value_name = "KEY=VALUE")]
    variables: Vec<String>,

    /// Where application state lives (the `default` SQLite database is
    /// `<state dir>/sqlite_db.db`); default: `.spin` next to the manifest.
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    app: AppArgs,

    /// The address to listen on (port 0 picks a free port).
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,

    /// Treat a Postgres `query` that returns zero rows as an error (it hangs on Spin 4.0.x).
    #[arg(long)]
    strict: bool,

    /// SQL to run on the default SQLite database before serving, or `@file`
    /// (repeatable; as `spin up --sqlite`).
    #[arg(long = "sqlite", value_name = "STATEMENT")]
    sqlite: Vec<String>,
}

#[derive(Args, Debug)]
struct MigrateArgs {
    #[command(flatten)]
    app: AppArgs,

    /// The database URL, `postgres://...` or `sqlite:<label>` (default: the
    /// resolved `database_url` application variable).
    #[arg(long = "database-url")]
    database_url: Option<String>,

    /// Create the database first if it does not exist.
    #[arg(long = "create-database")]
    create_database: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, never a backtrace.
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Up(args) => {
            let strict = args.strict || env_flag("SPIN_AUTH_RUNNER_STRICT");
            let app = load_app(&args.app)?;
            if let Some(path) = app.sqlite_paths.get("default") {
                sqlite::run_startup_statements(path, &args.sqlite, &current_dir()?)?;
            }
            runtime.block_on(server::serve(app, args.listen, strict))
        }
        Command::RunWasm(args) => runtime.block_on(run_wasm::run(&args.wasm, &args.args, &args.env)),
        Command::Mailbox(args) => runtime.block_on(mailbox::run(args.listen, &args.secret)),
        Command::Migrate(args) => runtime.block_on(async {
            let database_url = match args.database_url {
                Some(url) => url,
                None => resolve_one_variable(&args.app, "database_url")?,
            };
            let database_url = database_url.trim();
            match database_url.strip_prefix("sqlite:") {
                Some(label) => {
                    let paths = sqlite_paths(
                        &args.app,
                        &manifest::Manifest::from_file(&args.app.from)?,
                        &load_runtime_config(&args.app)?,
                    )?;
                    let path = paths.get(label).with_context(|| {
                        format!("no SQLite database `{label}`: add [sqlite_database.{label}] to the runtime config")
                    })?;
                    migrate::run_sqlite(path)
                }
                None => migrate::run(database_url, args.create_database).await,
            }
        }),
    }
}

/// Everything `up` and `migrate` need from the manifest, runtime config and variables.
pub struct App {
    pub manifest: manifest::Manifest,
    /// Resolved application variables (values are secrets: never log them).
    pub app_variables: std::collections::BTreeMap<String, String>,
    /// The component's variables, rendered from its templates.
    pub component_variables: std::collections::HashMap<String, String>,
    /// The component's `allowed_outbound_hosts`, rendered.
    pub allowed_outbound_hosts: Vec<String>,
    /// SQLite database label -> file.
    pub sqlite_paths: std::collections::HashMap<String, PathBuf>,
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().context("reading the current directory")
}

/// The SQLite files of the app's database labels: the runtime config's
/// `[sqlite_database.*]`, and `default` in the state directory.
/// The `--runtime-config-file`, or an empty runtime config.
fn load_runtime_config(args: &AppArgs) -> Result<runtime_config::RuntimeConfig> {
    match &args.runtime_config_file {
        Some(path) => runtime_config::RuntimeConfig::from_file(path),
        None => Ok(runtime_config::RuntimeConfig::default()),
    }
}

fn sqlite_paths(
    args: &AppArgs,
    manifest: &manifest::Manifest,
    runtime_config: &runtime_config::RuntimeConfig,
) -> Result<std::collections::HashMap<String, PathBuf>> {
    let state_dir = match &args.state_dir {
        Some(dir) => current_dir()?.join(dir),
        None => manifest.dir.join(".spin"),
    };
    Ok(sqlite::database_paths(
        &runtime_config.sqlite_databases,
        &state_dir,
    ))
}

fn load_app(args: &AppArgs) -> Result<App> {
    let manifest = manifest::Manifest::from_file(&args.from)?;
    let runtime_config = load_runtime_config(args)?;
    let cli_values = variables::parse_cli_variables(&args.variables)?;
    for key in cli_values.keys() {
        if !manifest.variables.contains_key(key) {
            eprintln!("WARN --variable `{key}` is not declared in the manifest; ignored");
        }
    }
    let providers = variables::providers(&runtime_config, &manifest.dir)?;
    let app_variables =
        variables::resolve_app_variables(&manifest.variables, &cli_values, &providers, &|key| {
            std::env::var(key).ok()
        })?;
    let component_variables = variables::render_component_variables(
        &manifest.component.id,
        &manifest.component.variables,
        &app_variables,
    )?;
    let allowed_outbound_hosts = manifest
        .component
        .allowed_outbound_hosts
        .iter()
        .map(|entry| {
            template::Template::parse(entry)
                .and_then(|t| t.render(&app_variables))
                .with_context(|| {
                    format!(
                        "component `{}`: allowed_outbound_hosts entry {entry:?}",
                        manifest.component.id
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let sqlite_paths = sqlite_paths(args, &manifest, &runtime_config)?;
    sqlite::check_labels(
        &manifest.component.id,
        &manifest.component.sqlite_databases,
        &sqlite_paths,
    )?;
    Ok(App {
        manifest,
        app_variables,
        component_variables,
        allowed_outbound_hosts,
        sqlite_paths,
    })
}

/// Resolves one application variable as `up` would (other required
/// variables, such as keys, need not be set for `migrate`).
fn resolve_one_variable(args: &AppArgs, name: &str) -> Result<String> {
    let manifest = manifest::Manifest::from_file(&args.from)?;
    let decl = manifest.variables.get(name).with_context(|| {
        format!("the application has no `{name}` variable; pass --database-url")
    })?;
    let runtime_config = load_runtime_config(args)?;
    let cli_values = variables::parse_cli_variables(&args.variables)?;
    let providers = variables::providers(&runtime_config, &manifest.dir)?;
    let decls = std::collections::BTreeMap::from([(name.to_owned(), decl.clone())]);
    let mut resolved = variables::resolve_app_variables(&decls, &cli_values, &providers, &|key| {
        std::env::var(key).ok()
    })?;
    resolved
        .remove(name)
        .with_context(|| format!("no value for `{name}`"))
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes") | Ok("on")
    )
}
