//! The Spin application manifest (`spin.toml`, version 2): the subset this
//! runner supports. Anything else that would change behaviour is refused with
//! one clear line naming it, rather than silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::template::{is_valid_name, Template};

/// An application variable declared in `[variables]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// The route of the HTTP trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/prefix/...` (the prefix is `""` for `/...`).
    Wildcard(String),
    /// A fixed path such as `/hello`.
    Exact(String),
}

impl Route {
    pub fn parse(route: &str) -> Result<Self> {
        if !route.starts_with('/') {
            bail!("route {route:?} must start with `/`");
        }
        if route.contains(':') {
            bail!(
                "route {route:?}: named wildcards (`:name`) are not supported by spin-auth-runner"
            );
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                bail!("route {route:?}: `...` is only allowed at the end");
            }
            return Ok(Route::Wildcard(prefix.trim_end_matches('/').to_owned()));
        }
        if route.contains("...") {
            bail!("route {route:?}: `...` is only allowed as the last segment");
        }
        let path = route.trim_end_matches('/');
        Ok(Route::Exact(if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }))
    }

    /// The route as written in the manifest (`spin-matched-route`).
    pub fn raw(&self) -> String {
        match self {
            Route::Wildcard(prefix) => format!("{prefix}/..."),
            Route::Exact(path) => path.clone(),
        }
    }

    /// The route without a trailing `/...` (`spin-component-route`).
    pub fn prefix(&self) -> &str {
        match self {
            Route::Wildcard(prefix) => prefix,
            Route::Exact(path) => path,
        }
    }

    /// Matches a request path; returns the path info (the part after the
    /// route's prefix) on a match.
    pub fn matches<'a>(&self, path: &'a str) -> Option<&'a str> {
        match self {
            Route::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
            Route::Exact(exact) => {
                let trimmed = path.trim_end_matches('/');
                let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
                (trimmed == exact).then_some("")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub route: Route,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentDef {
    pub id: String,
    /// Absolute path of the Wasm file.
    pub source: PathBuf,
    /// Entries as written (templates over application variables).
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variable name -> template.
    pub variables: BTreeMap<String, Template>,
    /// The SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding the manifest (paths are relative to it).
    pub dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub trigger: HttpTrigger,
    pub component: ComponentDef,
}

// ---- raw serde shapes -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[allow(dead_code)]
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    version: Option<String>,
    description: Option<String>,
    #[allow(dead_code)]
    authors: Option<Vec<String>>,
    /// Tool metadata (`[application.tool.*]`) does not change behaviour.
    #[allow(dead_code)]
    tool: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: toml::Value,
    component: toml::Value,
    #[allow(dead_code)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[allow(dead_code)]
    build: Option<toml::Value>,
}

/// Component keys that real Spin supports but this runner does not.
const UNSUPPORTED_COMPONENT_KEYS: &[&str] = &[
    "files",
    "exclude_files",
    "environment",
    "key_value_stores",
    "ai_models",
    "dependencies",
    "dependencies_inherit_configuration",
    "allowed_http_hosts",
    "tool",
];

impl Manifest {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot resolve directory of {}", path.display()))?;
        Self::parse(&text, &dir).with_context(|| format!("{}", path.display()))
    }

    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| toml_error(&e, text))?;

        match table.get("spin_manifest_version") {
            Some(toml::Value::Integer(2)) => {}
            Some(toml::Value::String(s)) if s == "2" => {}
            Some(other) => bail!(
                "spin_manifest_version {other} is not supported; spin-auth-runner reads version 2 manifests only"
            ),
            None => bail!("missing `spin_manifest_version` (spin-auth-runner reads version 2 manifests only)"),
        }
        check_unsupported(&table)?;

        let raw: RawManifest = toml::from_str(text).map_err(|e| toml_error(&e, text))?;

        let application = Application {
            name: raw.application.name,
            version: raw.application.version,
            description: raw.application.description,
        };

        let mut variables = BTreeMap::new();
        for (name, var) in raw.variables {
            if !is_valid_name(&name) {
                bail!("variable `{name}`: invalid name (variable names are lower snake case: letters, digits and `_`, starting with a letter)");
            }
            match (&var.default, var.required) {
                (None, false) => {
                    bail!("variable `{name}` must have a default value or be `required = true`")
                }
                (Some(_), true) => {
                    bail!("variable `{name}` cannot both be required and have a default value")
                }
                _ => {}
            }
            variables.insert(
                name,
                VariableDecl {
                    default: var.default,
                    required: var.required,
                    secret: var.secret,
                },
            );
        }

        if raw.trigger.http.len() != 1 {
            bail!(
                "spin-auth-runner supports exactly one [[trigger.http]]; found {}",
                raw.trigger.http.len()
            );
        }
        let raw_trigger = raw
            .trigger
            .http
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("missing [[trigger.http]]"))?;
        let route = match raw_trigger.route {
            toml::Value::String(route) => Route::parse(&route)?,
            _ => bail!("trigger.http: only a route string is supported (private routes are not)"),
        };
        let component_id = match raw_trigger.component {
            toml::Value::String(id) => id,
            _ => bail!("trigger.http: `component` must name a [component.<id>] table (inline components are not supported by spin-auth-runner)"),
        };

        if raw.component.len() != 1 {
            bail!(
                "spin-auth-runner supports exactly one component; found {}",
                raw.component.len()
            );
        }
        let (id, component) = raw
            .component
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("missing [component.<id>]"))?;
        if id != component_id {
            bail!("trigger.http refers to component `{component_id}`, which is not defined");
        }

        let source = match component.source {
            toml::Value::String(path) => dir.join(path),
            toml::Value::Table(_) => bail!("component `{id}`: url/registry `source` is not supported by spin-auth-runner; use a local file path"),
            _ => bail!("component `{id}`: `source` must be a file path"),
        };

        let mut component_variables = BTreeMap::new();
        for (name, template) in component.variables {
            if !is_valid_name(&name) {
                bail!("component `{id}` variable `{name}`: invalid name (lower snake case)");
            }
            let template = Template::parse(&template)
                .with_context(|| format!("component `{id}` variable `{name}`"))?;
            for reference in template.references() {
                if !variables.contains_key(reference) {
                    bail!("component `{id}` variable `{name}` refers to undeclared application variable `{reference}`");
                }
            }
            component_variables.insert(name, template);
        }
        for entry in &component.allowed_outbound_hosts {
            let template = Template::parse(entry)
                .with_context(|| format!("component `{id}` allowed_outbound_hosts {entry:?}"))?;
            for reference in template.references() {
                if !variables.contains_key(reference) {
                    bail!("component `{id}` allowed_outbound_hosts {entry:?} refers to undeclared application variable `{reference}`");
                }
            }
        }

        Ok(Manifest {
            dir: dir.to_path_buf(),
            application,
            variables,
            trigger: HttpTrigger {
                route,
                component: component_id,
            },
            component: ComponentDef {
                id,
                source,
                allowed_outbound_hosts: component.allowed_outbound_hosts,
                variables: component_variables,
                sqlite_databases: component.sqlite_databases,
            },
        })
    }
}

/// Refuses, with a message naming it, each manifest feature real Spin has and
/// this runner does not.
fn check_unsupported(table: &toml::Table) -> Result<()> {
    if let Some(application) = table.get("application").and_then(|v| v.as_table()) {
        if application.contains_key("trigger") {
            bail!("`[application.trigger.*]` settings are not supported by spin-auth-runner");
        }
    }
    if let Some(triggers) = table.get("trigger").and_then(|v| v.as_table()) {
        for (kind, value) in triggers {
            if kind != "http" {
                bail!("trigger type `{kind}` is not supported by spin-auth-runner (only `http`)");
            }
            if let Some(list) = value.as_array() {
                for trigger in list {
                    if let Some(t) = trigger.as_table() {
                        for key in ["executor", "static_response"] {
                            if t.contains_key(key) {
                                bail!("trigger.http `{key}` is not supported by spin-auth-runner");
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(components) = table.get("component").and_then(|v| v.as_table()) {
        for (id, component) in components {
            if let Some(c) = component.as_table() {
                for key in UNSUPPORTED_COMPONENT_KEYS {
                    if c.contains_key(*key) {
                        bail!("component `{id}`: `{key}` is not supported by spin-auth-runner");
                    }
                }
            }
        }
    }
    Ok(())
}

/// A TOML error as one line: the message and where it is.
fn toml_error(e: &toml::de::Error, text: &str) -> anyhow::Error {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            anyhow!("{message} (line {line})")
        }
        None => anyhow!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT_MANIFEST: &str = include_str!("../../spin.toml");

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("/app"))
    }

    fn minimal() -> String {
        r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
host = { default = "127.0.0.1:5432" }
key = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["postgres://{{ host }}"]
[component.c.variables]
key = "{{ key }}"
"#
        .to_owned()
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn project_manifest_parses() {
        let m = parse(PROJECT_MANIFEST).unwrap();
        assert_eq!(m.application.name, "spin-auth");
        assert_eq!(m.trigger.route, Route::Wildcard(String::new()));
        assert_eq!(m.trigger.component, "auth");
        assert_eq!(m.component.id, "auth");
        assert_eq!(
            m.component.source,
            Path::new("/app/target/wasm32-wasip2/release/spin_auth.wasm")
        );
        assert!(m.variables["jwt_private_key"].required);
        assert!(m.variables["jwt_private_key"].secret);
        assert_eq!(
            m.variables["jwt_algorithm"].default.as_deref(),
            Some("RS256")
        );
        assert!(m.component.variables.contains_key("database_url"));
        assert_eq!(
            m.component.allowed_outbound_hosts,
            vec![
                "postgres://{{ database_host }}".to_owned(),
                "{{ email_webhook_host }}".to_owned()
            ]
        );
    }

    #[test]
    fn minimal_manifest_parses() {
        let m = parse(&minimal()).unwrap();
        assert_eq!(m.variables.len(), 2);
        assert_eq!(m.component.variables.len(), 1);
    }

    #[test]
    fn version_1_is_refused() {
        let text = minimal().replace("spin_manifest_version = 2", "spin_manifest_version = \"1\"");
        assert!(
            err(&text).contains("spin_manifest_version"),
            "{}",
            err(&text)
        );
        let text = minimal().replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(err(&text).contains("version 2"), "{}", err(&text));
    }

    #[test]
    fn sqlite_databases_are_read() {
        let text = minimal().replace(
            "source = \"c.wasm\"",
            "source = \"c.wasm\"\nsqlite_databases = [\"default\", \"audit\"]",
        );
        let m = Manifest::parse(&text, Path::new("/app")).unwrap();
        assert_eq!(m.component.sqlite_databases, ["default", "audit"]);
        assert!(Manifest::parse(&minimal(), Path::new("/app"))
            .unwrap()
            .component
            .sqlite_databases
            .is_empty());
    }

    #[test]
    fn unsupported_component_features_are_named() {
        for (key, value) in [
            ("key_value_stores", "[\"default\"]"),
            ("files", "[\"static/**\"]"),
            ("environment", "{ A = \"b\" }"),
            ("ai_models", "[\"llama2-chat\"]"),
        ] {
            let text = minimal().replace(
                "source = \"c.wasm\"",
                &format!("source = \"c.wasm\"\n{key} = {value}"),
            );
            let e = err(&text);
            assert!(e.contains(key) && e.contains("not supported"), "{key}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = minimal().replace("source = \"c.wasm\"", "source = \"c.wasm\"\nfrobnicate = 1");
        assert!(err(&text).contains("frobnicate"), "{}", err(&text));
        let text = minimal().replace("name = \"t\"", "name = \"t\"\ncolour = \"red\"");
        assert!(err(&text).contains("colour"), "{}", err(&text));
    }

    #[test]
    fn other_triggers_and_app_trigger_settings_are_refused() {
        let text = format!(
            "{}\n[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"c\"\n",
            minimal()
        );
        assert!(err(&text).contains("redis"), "{}", err(&text));
        let text = minimal().replace(
            "name = \"t\"",
            "name = \"t\"\n[application.trigger.http]\nbase = \"/\"",
        );
        assert!(err(&text).contains("application.trigger"), "{}", err(&text));
        let text = minimal().replace(
            "component = \"c\"",
            "component = \"c\"\nexecutor = { type = \"wagi\" }",
        );
        assert!(err(&text).contains("executor"), "{}", err(&text));
    }

    #[test]
    fn url_source_is_refused() {
        let text = minimal().replace(
            "source = \"c.wasm\"",
            "source = { url = \"https://example.com/c.wasm\", digest = \"sha256:00\" }",
        );
        assert!(err(&text).contains("url"), "{}", err(&text));
    }

    #[test]
    fn variable_needs_default_or_required() {
        let text = minimal().replace(
            "host = { default = \"127.0.0.1:5432\" }",
            "host = { secret = true }",
        );
        assert!(err(&text).contains("default"), "{}", err(&text));
        let text = minimal().replace("[variables]", "[variables]\nBad = { default = \"x\" }");
        assert!(err(&text).contains("Bad"), "{}", err(&text));
    }

    #[test]
    fn component_template_must_reference_declared_variables() {
        let text = minimal().replace("key = \"{{ key }}\"", "key = \"{{ nope }}\"");
        assert!(err(&text).contains("nope"), "{}", err(&text));
    }

    #[test]
    fn malformed_toml_is_one_line() {
        let e = err("spin_manifest_version = 2\n[application\n");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn routes() {
        let all = Route::parse("/...").unwrap();
        assert_eq!(all.matches("/api/users/me"), Some("/api/users/me"));
        assert_eq!(all.raw(), "/...");
        assert_eq!(all.prefix(), "");
        let api = Route::parse("/api/...").unwrap();
        assert_eq!(api.matches("/api/users"), Some("/users"));
        assert_eq!(api.matches("/api"), Some(""));
        assert_eq!(api.matches("/apix"), None);
        let exact = Route::parse("/hello").unwrap();
        assert_eq!(exact.matches("/hello"), Some(""));
        assert_eq!(exact.matches("/hello/x"), None);
        assert!(Route::parse("/users/:id").is_err());
    }
}
