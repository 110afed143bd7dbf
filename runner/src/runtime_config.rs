//! The runtime configuration file (`--runtime-config-file`): supported are
//! `[[variables_provider]]` entries of type `static` and `env`, and
//! `[sqlite_database.<label>]` entries of type `spin` with a `path`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfig {
    Static {
        values: HashMap<String, String>,
    },
    Env {
        prefix: Option<String>,
        /// Resolved against the runtime config file's directory.
        dotenv_path: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub variables_providers: Vec<ProviderConfig>,
    /// SQLite database label -> file (resolved against the file's directory).
    pub sqlite_databases: HashMap<String, PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatic {
    values: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    prefix: Option<String>,
    dotenv_path: Option<PathBuf>,
}

impl RuntimeConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).with_context(|| format!("runtime config {}", path.display()))
    }

    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| anyhow!("{}", e.message().trim().replace('\n', " ")))?;
        let mut variables_providers = Vec::new();
        for (key, value) in &table {
            if key != "variables_provider" && key != "sqlite_database" {
                let shown = match value {
                    toml::Value::Table(t) => match t.keys().next() {
                        Some(name) => format!("[{key}.{name}]"),
                        None => format!("[{key}]"),
                    },
                    _ => key.clone(),
                };
                bail!("`{shown}` is not supported by spin-auth-runner (only [[variables_provider]] and [sqlite_database.<label>] entries are)");
            }
        }
        if let Some(providers) = table.get("variables_provider") {
            let list = providers.as_array().ok_or_else(|| {
                anyhow!("`variables_provider` must be an array of tables ([[variables_provider]])")
            })?;
            for (index, entry) in list.iter().enumerate() {
                let mut entry = entry
                    .as_table()
                    .cloned()
                    .ok_or_else(|| anyhow!("variables_provider #{}: not a table", index + 1))?;
                let kind = match entry.remove("type") {
                    Some(toml::Value::String(kind)) => kind,
                    _ => bail!("variables_provider #{}: missing `type`", index + 1),
                };
                let provider = match kind.as_str() {
                    "static" => {
                        let raw: RawStatic = toml::Value::Table(entry)
                            .try_into()
                            .map_err(|e: toml::de::Error| {
                                anyhow!("variables_provider #{} (static): {}", index + 1, e.message().trim())
                            })?;
                        ProviderConfig::Static { values: raw.values }
                    }
                    "env" => {
                        let raw: RawEnv = toml::Value::Table(entry)
                            .try_into()
                            .map_err(|e: toml::de::Error| {
                                anyhow!("variables_provider #{} (env): {}", index + 1, e.message().trim())
                            })?;
                        ProviderConfig::Env {
                            prefix: raw.prefix,
                            dotenv_path: raw.dotenv_path.map(|p| dir.join(p)),
                        }
                    }
                    "vault" | "azure_key_vault" => bail!(
                        "variables_provider type `{kind}` is supported by real Spin but not by spin-auth-runner; use `static` or `env` locally"
                    ),
                    other => bail!("unknown variables_provider type `{other}`"),
                };
                variables_providers.push(provider);
            }
        }
        Ok(RuntimeConfig {
            variables_providers,
            sqlite_databases: parse_sqlite_databases(table.get("sqlite_database"), dir)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqliteDatabase {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    #[allow(dead_code)]
    url: Option<String>,
    #[allow(dead_code)]
    token: Option<String>,
}

/// `[sqlite_database.<label>]`: `type = "spin"` with a `path` (a file the
/// runner opens); `libsql` (Turso) is for real Spin only.
fn parse_sqlite_databases(
    value: Option<&toml::Value>,
    dir: &Path,
) -> Result<HashMap<String, PathBuf>> {
    let Some(value) = value else {
        return Ok(HashMap::new());
    };
    let tables = value
        .as_table()
        .ok_or_else(|| anyhow!("`sqlite_database` must be tables ([sqlite_database.<label>])"))?;
    let mut databases = HashMap::new();
    for (label, entry) in tables {
        let raw: RawSqliteDatabase = entry.clone().try_into().map_err(|e: toml::de::Error| {
            anyhow!("[sqlite_database.{label}]: {}", e.message().trim())
        })?;
        match (raw.kind.as_str(), raw.path) {
            ("spin", Some(path)) => {
                databases.insert(label.clone(), dir.join(path));
            }
            ("spin", None) => bail!(
                "[sqlite_database.{label}]: spin-auth-runner needs a `path` (in-memory databases are not supported)"
            ),
            ("libsql", _) => bail!(
                "[sqlite_database.{label}]: type `libsql` is supported by real Spin but not by spin-auth-runner; use type = \"spin\" with a path locally"
            ),
            (other, _) => bail!("[sqlite_database.{label}]: unknown type `{other}`"),
        }
    }
    Ok(databases)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT_RUNTIME_CONFIG: &str = include_str!("../../runtime-config.toml");

    #[test]
    fn project_runtime_config_parses() {
        let rc = RuntimeConfig::parse(PROJECT_RUNTIME_CONFIG, Path::new("/app")).unwrap();
        assert_eq!(
            rc.variables_providers,
            vec![ProviderConfig::Env {
                prefix: Some("AUTH".into()),
                dotenv_path: None
            }]
        );
    }

    #[test]
    fn static_and_env_in_order() {
        let rc = RuntimeConfig::parse(
            r#"
[[variables_provider]]
type = "static"
values = { a = "1", b = "2" }
[[variables_provider]]
type = "env"
dotenv_path = "prod.env"
"#,
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(rc.variables_providers.len(), 2);
        assert!(
            matches!(&rc.variables_providers[0], ProviderConfig::Static { values } if values["b"] == "2")
        );
        assert_eq!(
            rc.variables_providers[1],
            ProviderConfig::Env {
                prefix: None,
                dotenv_path: Some(PathBuf::from("/cfg/prod.env"))
            }
        );
    }

    #[test]
    fn vault_and_azure_are_refused_clearly() {
        for kind in ["vault", "azure_key_vault"] {
            let e = RuntimeConfig::parse(
                &format!("[[variables_provider]]\ntype = \"{kind}\"\nurl = \"x\"\n"),
                Path::new("/"),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(kind) && e.contains("real Spin"), "{e}");
        }
    }

    #[test]
    fn sqlite_databases_resolve_against_the_file_and_libsql_is_refused() {
        let rc = RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/auth.db\"\n",
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(
            rc.sqlite_databases["default"],
            Path::new("/cfg/data/auth.db")
        );
        let e = RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"spin\"\n",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[sqlite_database.default]") && e.contains("path"),
            "{e}"
        );
        let e = RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"\n",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("libsql") && e.contains("real Spin"), "{e}");
    }

    #[test]
    fn other_tables_are_refused() {
        let e = RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"redis\"\n",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("key_value_store"), "{e}");
    }

    #[test]
    fn unknown_provider_keys_are_named() {
        let e = RuntimeConfig::parse(
            "[[variables_provider]]\ntype = \"env\"\nprefx = \"A\"\n",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("prefx"), "{e}");
    }
}
