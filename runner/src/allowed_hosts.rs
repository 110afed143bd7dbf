//! A component's `allowed_outbound_hosts`, as Spin checks them for Postgres:
//! `scheme://host[:port]` entries where the scheme, host and port may be `*`,
//! the host may be `*.domain`, and the port may be a range `a-b`. A missing
//! port means the scheme's default (5432 for `postgres`).

use anyhow::{anyhow, bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain (the suffix is stored as `.example.com`).
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    allow_all: bool,
    entries: Vec<Entry>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses rendered entries (templates already substituted).
    pub fn parse(entries: &[String]) -> Result<Self> {
        let mut allowed = AllowedHosts::default();
        for raw in entries {
            if raw == "insecure:allow-all" {
                allowed.allow_all = true;
                continue;
            }
            allowed.entries.push(
                Self::parse_entry(raw)
                    .map_err(|e| anyhow!("allowed_outbound_hosts entry {raw:?}: {e}"))?,
            );
        }
        Ok(allowed)
    }

    fn parse_entry(raw: &str) -> Result<Entry> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            bail!("expected `scheme://host[:port]`");
        };
        if scheme.is_empty() {
            bail!("missing scheme");
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("paths are not allowed");
        }
        let (host, port) = split_host_port(rest)?;
        if host.is_empty() {
            bail!("missing host");
        }
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomain(format!(".{}", suffix.to_ascii_lowercase()))
        } else if host.contains('*') {
            bail!("`*` is only allowed as the whole host or a leading `*.`");
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once('-') {
                Some((lo, hi)) => PortPattern::Range(parse_port(lo)?, parse_port(hi)?),
                None => {
                    let p = parse_port(p)?;
                    PortPattern::Range(p, p)
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Range(p, p),
                None => bail!("a port is required for this scheme"),
            },
        };
        Ok(Entry { scheme, host, port })
    }

    /// Is `scheme://host:port` allowed? (`port` None means the scheme's default.)
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if self.allow_all {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        self.entries.iter().any(|e| {
            let scheme_ok = e.scheme.as_deref().is_none_or(|s| s == scheme);
            let host_ok = match &e.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
                HostPattern::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            };
            let port_ok = match e.port {
                PortPattern::Any => true,
                PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

fn parse_port(p: &str) -> Result<u16> {
    p.parse::<u16>().map_err(|_| anyhow!("invalid port {p:?}"))
}

/// Splits `host[:port]`, including `[v6]:port`.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            bail!("unterminated `[` in host");
        };
        let host = &s[..end + 2];
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => bail!("unexpected text after host"),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_host_and_port() {
        let a = allowed(&["postgres://127.0.0.1:5432"]);
        assert!(a.allows("postgres", "127.0.0.1", Some(5432)));
        assert!(a.allows("postgres", "127.0.0.1", None));
        assert!(!a.allows("postgres", "127.0.0.1", Some(5433)));
        assert!(!a.allows("postgres", "localhost", Some(5432)));
        assert!(!a.allows("mysql", "127.0.0.1", Some(5432)));
    }

    #[test]
    fn default_port_applies_to_entry_and_address() {
        let a = allowed(&["postgres://localhost"]);
        assert!(a.allows("postgres", "localhost", None));
        assert!(a.allows("postgres", "LOCALHOST", Some(5432)));
        assert!(!a.allows("postgres", "localhost", Some(6543)));
    }

    #[test]
    fn wildcards_and_ranges() {
        let a = allowed(&["*://*.example.com:*", "postgres://db:6000-6010"]);
        assert!(a.allows("postgres", "pg.example.com", Some(1)));
        assert!(!a.allows("postgres", "example.org", Some(5432)));
        assert!(a.allows("postgres", "db", Some(6005)));
        assert!(!a.allows("postgres", "db", Some(6011)));
        assert!(allowed(&["insecure:allow-all"]).allows("postgres", "x", Some(1)));
        assert!(!allowed(&[]).allows("postgres", "127.0.0.1", None));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "127.0.0.1:5432",
            "postgres://",
            "postgres://h:port",
            "postgres://a*b:1",
            "foo://h",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
