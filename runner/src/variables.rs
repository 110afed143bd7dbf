//! Application variable resolution, in Spin's order (first value wins):
//! `--variable`, the runtime config's providers in file order, the
//! environment provider Spin always adds last (`SPIN_VARIABLE_<NAME>`, then a
//! `.env` file next to the manifest), then the manifest default.
//!
//! Values are secrets: nothing here logs a value.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::manifest::VariableDecl;
use crate::runtime_config::{ProviderConfig, RuntimeConfig};
use crate::template::{is_valid_name, Template};

const DEFAULT_ENV_PREFIX: &str = "SPIN_VARIABLE";

/// A variables provider, loaded once at startup.
#[derive(Debug, Clone)]
pub enum Provider {
    Static(HashMap<String, String>),
    Env {
        prefix: String,
        /// Entries of the dotenv file, if there is one.
        dotenv: HashMap<String, String>,
    },
}

impl Provider {
    fn get(&self, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match self {
            Provider::Static(values) => values.get(key).cloned(),
            Provider::Env { prefix, dotenv } => {
                let env_key = format!("{prefix}_{}", key.to_ascii_uppercase());
                env(&env_key).or_else(|| dotenv.get(&env_key).cloned())
            }
        }
    }
}

/// Reads a dotenv file; a missing file is no entries.
fn load_dotenv(path: &Path) -> Result<HashMap<String, String>> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HashMap::new())
        }
        Err(e) => return Err(anyhow!("reading {}: {e}", path.display())),
    };
    iter.map(|item| item.map_err(|e| anyhow!("reading {}: {e}", path.display())))
        .collect()
}

/// The providers for a run: the runtime config's, then Spin's default
/// environment provider (with the `.env` file in the manifest's directory).
pub fn providers(runtime_config: &RuntimeConfig, manifest_dir: &Path) -> Result<Vec<Provider>> {
    let mut providers = Vec::new();
    for config in &runtime_config.variables_providers {
        providers.push(match config {
            ProviderConfig::Static { values } => Provider::Static(values.clone()),
            ProviderConfig::Env {
                prefix,
                dotenv_path,
            } => Provider::Env {
                prefix: prefix
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ENV_PREFIX.to_owned()),
                dotenv: match dotenv_path {
                    Some(path) => load_dotenv(path)?,
                    None => HashMap::new(),
                },
            },
        });
    }
    providers.push(Provider::Env {
        prefix: DEFAULT_ENV_PREFIX.to_owned(),
        dotenv: load_dotenv(&manifest_dir.join(".env"))?,
    });
    Ok(providers)
}

/// Parses `--variable key=value` / `key=@file` arguments.
pub fn parse_cli_variables(args: &[String]) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| anyhow!("--variable {arg:?}: expected `key=value` or `key=@file`"))?;
        let key = key.trim();
        if !is_valid_name(key) {
            bail!("--variable: invalid variable name `{key}` (lower snake case)");
        }
        let value = match value.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("--variable {key}: cannot read file {path}"))?,
            None => value.to_owned(),
        };
        values.insert(key.to_owned(), value);
    }
    Ok(values)
}

/// Resolves every application variable once (values never change while the
/// process runs). Missing required variables are reported with Spin's wording.
pub fn resolve_app_variables(
    decls: &BTreeMap<String, VariableDecl>,
    cli: &HashMap<String, String>,
    providers: &[Provider],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut resolved = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, decl) in decls {
        let value = cli
            .get(name)
            .cloned()
            .or_else(|| providers.iter().find_map(|p| p.get(name, env)))
            .or_else(|| decl.default.clone());
        match value {
            Some(value) => {
                resolved.insert(name.clone(), value);
            }
            None => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|k| format!("Key({k:?})"))
            .collect::<Vec<_>>()
            .join(", ");
        bail!("no provider resolved required variable(s): [{list}]");
    }
    Ok(resolved)
}

/// Renders a component's variable templates over the application variables.
pub fn render_component_variables(
    component_id: &str,
    templates: &BTreeMap<String, Template>,
    app_variables: &BTreeMap<String, String>,
) -> Result<HashMap<String, String>> {
    templates
        .iter()
        .map(|(name, template)| {
            let value = template
                .render(app_variables)
                .with_context(|| format!("component `{component_id}` variable `{name}`"))?;
            Ok((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut d = BTreeMap::new();
        d.insert(
            "db_host".to_owned(),
            VariableDecl {
                default: Some("default-host".into()),
                required: false,
                secret: false,
            },
        );
        d.insert(
            "jwt_private_key".to_owned(),
            VariableDecl {
                default: None,
                required: true,
                secret: true,
            },
        );
        d.insert(
            "jwt_public_key".to_owned(),
            VariableDecl {
                default: None,
                required: true,
                secret: false,
            },
        );
        d
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn default_env_provider(dotenv: &[(&str, &str)]) -> Provider {
        Provider::Env {
            prefix: DEFAULT_ENV_PREFIX.into(),
            dotenv: map(dotenv),
        }
    }

    const KEYS: &[(&str, &str)] = &[
        ("SPIN_VARIABLE_JWT_PRIVATE_KEY", "priv-env"),
        ("SPIN_VARIABLE_JWT_PUBLIC_KEY", "pub-env"),
    ];

    #[test]
    fn default_applies_last() {
        let providers = vec![default_env_provider(&[])];
        let v =
            resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(KEYS)).unwrap();
        assert_eq!(v["db_host"], "default-host");
        assert_eq!(v["jwt_private_key"], "priv-env");
    }

    #[test]
    fn order_cli_then_runtime_providers_then_env_then_dotenv_then_default() {
        static ENV: &[(&str, &str)] = &[
            ("SPIN_VARIABLE_DB_HOST", "env-host"),
            ("SPIN_VARIABLE_JWT_PRIVATE_KEY", "priv-env"),
            ("SPIN_VARIABLE_JWT_PUBLIC_KEY", "pub-env"),
        ];
        let static_provider = Provider::Static(map(&[("db_host", "static-host")]));
        let env_default = default_env_provider(&[("SPIN_VARIABLE_DB_HOST", "dotenv-host")]);

        // --variable wins over everything.
        let cli = map(&[("db_host", "cli-host")]);
        let providers = vec![static_provider.clone(), env_default.clone()];
        let v = resolve_app_variables(&decls(), &cli, &providers, &env_of(ENV)).unwrap();
        assert_eq!(v["db_host"], "cli-host");

        // Then the runtime config's providers, even over the environment.
        let v = resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(ENV)).unwrap();
        assert_eq!(v["db_host"], "static-host");

        // Then the process environment over the .env file.
        let providers = vec![env_default.clone()];
        let v = resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(ENV)).unwrap();
        assert_eq!(v["db_host"], "env-host");

        // Then the .env file over the default.
        let v =
            resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(KEYS)).unwrap();
        assert_eq!(v["db_host"], "dotenv-host");
    }

    #[test]
    fn prefixed_env_provider() {
        static ENV: &[(&str, &str)] = &[
            ("AUTH_JWT_PRIVATE_KEY", "priv-auth"),
            ("SPIN_VARIABLE_JWT_PRIVATE_KEY", "priv-spin"),
            ("SPIN_VARIABLE_JWT_PUBLIC_KEY", "pub-spin"),
        ];
        let providers = vec![
            Provider::Env {
                prefix: "AUTH".into(),
                dotenv: HashMap::new(),
            },
            default_env_provider(&[]),
        ];
        let v = resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(ENV)).unwrap();
        assert_eq!(v["jwt_private_key"], "priv-auth");
        assert_eq!(v["jwt_public_key"], "pub-spin");
    }

    #[test]
    fn missing_required_uses_spins_wording_and_lists_all() {
        let providers = vec![default_env_provider(&[])];
        let e = resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no provider resolved required variable(s): [Key(\"jwt_private_key\"), Key(\"jwt_public_key\")]"
        );
    }

    #[test]
    fn cli_variables_parse_and_read_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        std::fs::write(&file, "-----BEGIN KEY-----\nabc\n").unwrap();
        let args = vec![
            "a=1=2".to_owned(),
            format!("pem=@{}", file.display()),
            "empty=".to_owned(),
        ];
        let v = parse_cli_variables(&args).unwrap();
        assert_eq!(v["a"], "1=2");
        assert_eq!(v["pem"], "-----BEGIN KEY-----\nabc\n");
        assert_eq!(v["empty"], "");
        assert!(parse_cli_variables(&["novalue".to_owned()]).is_err());
        assert!(parse_cli_variables(&["Bad=1".to_owned()]).is_err());
        assert!(parse_cli_variables(&["x=@/nonexistent/file".to_owned()]).is_err());
    }

    #[test]
    fn dotenv_file_in_manifest_dir_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "SPIN_VARIABLE_JWT_PRIVATE_KEY=from-dotenv\nSPIN_VARIABLE_JWT_PUBLIC_KEY=\"quoted value\"\n",
        )
        .unwrap();
        let providers = providers(&RuntimeConfig::default(), dir.path()).unwrap();
        let v = resolve_app_variables(&decls(), &HashMap::new(), &providers, &env_of(&[])).unwrap();
        assert_eq!(v["jwt_private_key"], "from-dotenv");
        assert_eq!(v["jwt_public_key"], "quoted value");
    }

    #[test]
    fn component_templates_render() {
        let mut templates = BTreeMap::new();
        templates.insert(
            "url".to_owned(),
            Template::parse("postgres://{{db_host}}/x").unwrap(),
        );
        let mut app = BTreeMap::new();
        app.insert("db_host".to_owned(), "h:1".to_owned());
        let v = render_component_variables("c", &templates, &app).unwrap();
        assert_eq!(v["url"], "postgres://h:1/x");
    }
}
