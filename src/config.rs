//! Spin variables -> typed settings. Read lazily: a route reads (and parses
//! the keys) it needs, nothing more. A missing or malformed value is a
//! [`ConfigError`] naming the variable (a `503` and a log line).

use std::cell::OnceCell;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::auth::keys::{Algorithm, SigningKey, VerifyingKey};
use crate::auth::mfa::MfaKeys;
use crate::auth::secret_box::SecretKey;
use crate::auth::tokens::Audience;
use crate::auth::validation::normalize_email;
use crate::email::Hook;
use crate::error::ConfigError;
use http::Uri;

/// Where a link template puts the token.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// A link with [`TOKEN_PLACEHOLDER`] in it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTemplate(String);

impl LinkTemplate {
    /// The link for `token` (URL-safe, so put in as it is).
    pub fn with_token(&self, token: &str) -> String {
        self.0.replace(TOKEN_PLACEHOLDER, token)
    }
}

/// 127.0.0.0/8, `localhost` and `[::1]`.
fn is_loopback(url: &Uri) -> bool {
    let Some(host) = url.host() else {
        return false;
    };
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// An absolute `http://` or `https://` URL with a host; `Err` says why not.
pub fn parse_http_url(value: &str) -> Result<Uri, String> {
    let url: Uri = value.parse().map_err(|e| format!("not a URL ({e})"))?;
    match (url.scheme_str(), url.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(url),
        (Some("http" | "https"), _) => Err("the URL has no host".into()),
        _ => Err("expected an https:// URL".into()),
    }
}

/// The longest access-token lifetime accepted (`access_token_expires_in`,
/// minutes): a day.
pub const MAX_ACCESS_TOKEN_MINUTES: u64 = 1440;

/// The longest reuse grace accepted (`refresh_reuse_grace_seconds`). The
/// first release accepted 3600.
pub const MAX_REUSE_GRACE_SECS: u64 = 60;

/// Where variable values come from (Spin's `variables` interface in the
/// component, a map in tests).
pub trait Variables {
    /// The value, or a description of why there is none.
    fn get(&self, name: &str) -> Result<String, String>;
}

pub struct Config<'v> {
    variables: &'v dyn Variables,
    verifying_keys: OnceCell<Vec<VerifyingKey>>,
    algorithm: OnceCell<Algorithm>,
}

/// The backend a `database_url` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// A Postgres connection string (`postgres://...` or `host=... `).
    Postgres(String),
    /// The name of a Spin SQLite database (`sqlite:default` → `default`).
    Sqlite(String),
}

impl<'v> Config<'v> {
    pub fn new(variables: &'v dyn Variables) -> Self {
        Config {
            variables,
            verifying_keys: OnceCell::new(),
            algorithm: OnceCell::new(),
        }
    }

    fn raw(&self, variable: &'static str) -> Result<String, ConfigError> {
        self.variables
            .get(variable)
            .map_err(|problem| ConfigError { variable, problem })
    }

    fn optional(&self, variable: &'static str) -> Result<Option<String>, ConfigError> {
        let value = self.raw(variable)?;
        let value = value.trim();
        Ok((!value.is_empty()).then(|| value.to_owned()))
    }

    /// A whole number in `1..=max`.
    fn number(&self, variable: &'static str, max: u64) -> Result<u64, ConfigError> {
        let value = self.raw(variable)?;
        match value.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                variable,
                problem: format!("expected a whole number from 1 to {max}"),
            }),
        }
    }

    pub fn database(&self) -> Result<Database, ConfigError> {
        let url = self.raw("database_url")?;
        let url = url.trim();
        if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.contains("host=")
        {
            Ok(Database::Postgres(url.to_owned()))
        } else if let Some(name) = url.strip_prefix("sqlite:") {
            if is_sqlite_label(name) {
                Ok(Database::Sqlite(name.to_owned()))
            } else {
                Err(ConfigError {
                    variable: "database_url",
                    problem: "expected sqlite:<database label>, such as sqlite:default".into(),
                })
            }
        } else {
            Err(ConfigError {
                variable: "database_url",
                problem: "expected sqlite:default or a postgres:// URL".into(),
            })
        }
    }

    /// At most a day: an access token cannot be revoked before its `exp`
    /// by a verifier that only has the JWKS, so a longer one is weak.
    pub fn access_token_lifetime_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("access_token_expires_in", MAX_ACCESS_TOKEN_MINUTES)? * 60)
    }

    pub fn refresh_token_lifetime_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("refresh_token_expires_in", 5_256_000)? * 60)
    }

    /// `security_event_retention_days` (1 to 3650), in seconds.
    pub fn security_event_retention_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("security_event_retention_days", 3650)? * 86_400)
    }

    pub fn session_absolute_timeout_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("session_absolute_timeout_minutes", 5_256_000)? * 60)
    }

    /// 0 (strict) is allowed here; over [`MAX_REUSE_GRACE_SECS`] is weak (a
    /// stolen retired token would mint access tokens undetected that long).
    pub fn refresh_reuse_grace_secs(&self) -> Result<u64, ConfigError> {
        let variable = "refresh_reuse_grace_seconds";
        let value = self.raw(variable)?;
        value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_REUSE_GRACE_SECS)
            .ok_or(ConfigError {
                variable,
                problem: format!(
                    "expected a whole number of seconds from 0 to {MAX_REUSE_GRACE_SECS}"
                ),
            })
    }

    pub fn login_max_failures(&self) -> Result<u64, ConfigError> {
        self.number("login_max_failures", 1_000_000)
    }

    pub fn login_lockout_secs(&self) -> Result<u64, ConfigError> {
        self.number("login_lockout_seconds", 31_536_000)
    }

    pub fn cookie_secure(&self) -> Result<bool, ConfigError> {
        self.boolean("cookie_secure")
    }

    fn boolean(&self, variable: &'static str) -> Result<bool, ConfigError> {
        match self.raw(variable)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError {
                variable,
                problem: "expected true or false".into(),
            }),
        }
    }

    /// `true` only with an email hook to send the verification email: a
    /// user who can never get the link could never log in.
    pub fn require_email_verification(&self) -> Result<bool, ConfigError> {
        let required = self.boolean("require_email_verification")?;
        if required && self.email_hook()?.is_none() {
            return Err(ConfigError {
                variable: "email_webhook_url",
                problem: "is empty, but require_email_verification is true: \
                          set the hook that sends the verification emails"
                    .into(),
            });
        }
        Ok(required)
    }

    /// The email hook; `None` when `email_webhook_url` is empty (no email
    /// is sent). Weak, so malformed: a plain `http://` URL to a host other
    /// than loopback (tokens would cross the network in clear), and a URL
    /// without `email_webhook_secret` (the relay could not tell our emails
    /// from anyone's).
    pub fn email_hook(&self) -> Result<Option<Hook>, ConfigError> {
        let variable = "email_webhook_url";
        let Some(url) = self.optional(variable)? else {
            return Ok(None);
        };
        let problem = match parse_http_url(&url) {
            Err(problem) => Some(problem),
            Ok(parsed) if parsed.scheme_str() == Some("https") || is_loopback(&parsed) => None,
            Ok(_) => Some(
                "plain http:// is allowed for loopback hosts only (127.0.0.0/8, localhost, \
                 [::1]); use https://"
                    .into(),
            ),
        };
        if let Some(problem) = problem {
            return Err(ConfigError { variable, problem });
        }
        let variable = "email_webhook_secret";
        let secret = self.optional(variable)?.ok_or(ConfigError {
            variable,
            problem: "is empty, but email_webhook_url is set: the hook's deliveries must be signed"
                .into(),
        })?;
        Hook::new(&url, &secret)
            .map(Some)
            .map_err(|problem| ConfigError { variable, problem })
    }

    /// `email_verification_url`, by default `<first client_origin>/verify-email#token={token}`.
    pub fn email_verification_link(&self) -> Result<LinkTemplate, ConfigError> {
        self.link_template("email_verification_url", "/verify-email#token={token}")
    }

    /// `password_reset_url`, by default `<first client_origin>/reset-password#token={token}`.
    pub fn password_reset_link(&self) -> Result<LinkTemplate, ConfigError> {
        self.link_template("password_reset_url", "/reset-password#token={token}")
    }

    fn link_template(
        &self,
        variable: &'static str,
        default_path: &str,
    ) -> Result<LinkTemplate, ConfigError> {
        let template = match self.optional(variable)? {
            Some(template) => template,
            None => {
                let origin = self
                    .client_origins()?
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                format!("{origin}{default_path}")
            }
        };
        if !template.contains(TOKEN_PLACEHOLDER) {
            return Err(ConfigError {
                variable,
                problem: format!("must contain {TOKEN_PLACEHOLDER}, where the token goes"),
            });
        }
        Ok(LinkTemplate(template))
    }

    /// `email_verification_expires_in` (minutes, at most 30 days), in seconds.
    pub fn email_verification_lifetime_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("email_verification_expires_in", 43_200)? * 60)
    }

    /// `password_reset_expires_in` (minutes, at most a day), in seconds.
    pub fn password_reset_lifetime_secs(&self) -> Result<u64, ConfigError> {
        Ok(self.number("password_reset_expires_in", 1440)? * 60)
    }

    /// `mfa_issuer`: the name authenticator apps show.
    pub fn mfa_issuer(&self) -> Result<String, ConfigError> {
        Ok(self
            .optional("mfa_issuer")?
            .unwrap_or_else(|| "spin-auth".to_owned()))
    }

    /// `mfa_encryption_key` (current) and `mfa_previous_encryption_keys`
    /// (older, comma-separated): 32 bytes each, base64. `None` when the
    /// current key is not set.
    pub fn mfa_keys(&self) -> Result<Option<MfaKeys>, ConfigError> {
        let Some(current) = self.optional("mfa_encryption_key")? else {
            return Ok(None);
        };
        let current = mfa_key("mfa_encryption_key", &current)?;
        let previous = split_keys(&self.raw("mfa_previous_encryption_keys")?)
            .iter()
            .map(|k| mfa_key("mfa_previous_encryption_keys", k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(MfaKeys { current, previous }))
    }

    /// The keys, or a `503` naming `mfa_encryption_key` when it is empty.
    pub fn required_mfa_keys(&self) -> Result<MfaKeys, ConfigError> {
        self.mfa_keys()?.ok_or_else(|| ConfigError {
            variable: "mfa_encryption_key",
            problem: "not set: two-factor needs a 32-byte key, base64 \
                      (e.g. `openssl rand -base64 32`)"
                .into(),
        })
    }

    /// `admin_emails`, trimmed and lower-cased.
    pub fn admin_emails(&self) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .raw("admin_emails")?
            .split(',')
            .map(normalize_email)
            .filter(|e| !e.is_empty())
            .collect())
    }

    /// The issuer that discovery publishes: `jwt_issuer` when it is an
    /// `https://` URL (or `http://` on a loopback host); `None` otherwise.
    pub fn discoverable_issuer(&self) -> Result<Option<String>, ConfigError> {
        let Some(issuer) = self.optional("jwt_issuer")? else {
            return Ok(None);
        };
        Ok(parse_http_url(&issuer)
            .ok()
            .filter(|url| url.scheme_str() == Some("https") || is_loopback(url))
            // Exactly the tokens' `iss`, which verifiers compare with it.
            .map(|_| issuer))
    }

    /// The allowed browser origins (`client_origin`, comma-separated). An
    /// entry `null` or `*` is weak, so the whole setting is malformed: `null`
    /// is the origin of every sandboxed frame and `file:` page, and `*`
    /// would mean every site, credentials included.
    pub fn client_origins(&self) -> Result<Vec<String>, ConfigError> {
        let variable = "client_origin";
        let origins: Vec<String> = self
            .raw(variable)?
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        match origins
            .iter()
            .find(|o| *o == "*" || o.eq_ignore_ascii_case("null"))
        {
            Some(weak) => Err(ConfigError {
                variable,
                problem: format!("`{weak}` would trust any site; list the front ends' origins"),
            }),
            None => Ok(origins),
        }
    }

    pub fn audience(&self) -> Result<Audience, ConfigError> {
        Ok(Audience {
            issuer: self.optional("jwt_issuer")?,
            audience: self.optional("jwt_audience")?,
        })
    }

    pub fn algorithm(&self) -> Result<Algorithm, ConfigError> {
        if let Some(algorithm) = self.algorithm.get() {
            return Ok(*algorithm);
        }
        let variable = "jwt_algorithm";
        let algorithm = Algorithm::parse(&self.raw(variable)?).ok_or(ConfigError {
            variable,
            problem: "expected RS256, EdDSA or ES256".into(),
        })?;
        Ok(*self.algorithm.get_or_init(|| algorithm))
    }

    /// The private key; only the routes that sign parse it. Its public half
    /// must be one of the verification keys, or every token it signs would
    /// be refused.
    pub fn signing_key(&self) -> Result<SigningKey, ConfigError> {
        let variable = "jwt_private_key";
        let key = SigningKey::from_config(self.algorithm()?, &self.raw(variable)?)
            .map_err(|problem| ConfigError { variable, problem })?;
        let kid = key.public_key().kid;
        if self.verifying_keys()?.iter().all(|k| k.kid != kid) {
            return Err(ConfigError {
                variable: "jwt_public_key",
                problem:
                    "does not match jwt_private_key (nor does any of jwt_additional_public_keys)"
                        .into(),
            });
        }
        Ok(key)
    }

    /// The current public key first, then `jwt_additional_public_keys`.
    pub fn verifying_keys(&self) -> Result<&[VerifyingKey], ConfigError> {
        if let Some(keys) = self.verifying_keys.get() {
            return Ok(keys);
        }
        let algorithm = self.algorithm()?;
        let current = VerifyingKey::from_config(algorithm, &self.raw("jwt_public_key")?).map_err(
            |problem| ConfigError {
                variable: "jwt_public_key",
                problem,
            },
        )?;
        let mut keys = vec![current];
        let variable = "jwt_additional_public_keys";
        for (index, value) in split_keys(&self.raw(variable)?).into_iter().enumerate() {
            let key =
                VerifyingKey::from_config(algorithm, &value).map_err(|problem| ConfigError {
                    variable,
                    problem: format!("key {}: {problem}", index + 1),
                })?;
            if keys.iter().all(|k| k.kid != key.kid) {
                keys.push(key);
            }
        }
        Ok(self.verifying_keys.get_or_init(|| keys))
    }
}

/// A 32-byte key in base64 (standard alphabet, padding optional).
fn mfa_key(variable: &'static str, value: &str) -> Result<SecretKey, ConfigError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    let bytes = STANDARD
        .decode(value)
        .or_else(|_| STANDARD_NO_PAD.decode(value))
        .map_err(|_| ConfigError {
            variable,
            problem: "not base64".into(),
        })?;
    SecretKey::from_bytes(&bytes).ok_or_else(|| ConfigError {
        variable,
        problem: format!("expected 32 bytes, got {}", bytes.len()),
    })
}

/// Splits a list of keys (`jwt_additional_public_keys`,
/// `mfa_previous_encryption_keys`): comma-separated PEM or base64 values
/// (neither contains a comma).
fn split_keys(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Spin's database labels: lower-case letters, digits, `_` and `-`.
fn is_sqlite_label(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Variables from a map, with the spin.toml defaults filled in.
    pub struct MapVariables(pub HashMap<&'static str, String>);

    impl MapVariables {
        pub fn with(pairs: &[(&'static str, &str)]) -> Self {
            let mut map: HashMap<&'static str, String> = [
                ("database_url", "sqlite:default"),
                ("jwt_algorithm", "RS256"),
                ("jwt_additional_public_keys", ""),
                ("access_token_expires_in", "15"),
                ("refresh_token_expires_in", "60"),
                ("jwt_issuer", ""),
                ("jwt_audience", ""),
                ("client_origin", "http://localhost:3000"),
                ("cookie_secure", "true"),
                ("login_max_failures", "5"),
                ("login_lockout_seconds", "900"),
                ("session_absolute_timeout_minutes", "10080"),
                ("refresh_reuse_grace_seconds", "0"),
                ("security_event_retention_days", "90"),
                ("require_email_verification", "false"),
                ("email_webhook_url", ""),
                ("email_webhook_secret", ""),
                ("email_webhook_host", "http://127.0.0.1:8025"),
                ("email_verification_url", ""),
                ("password_reset_url", ""),
                ("email_verification_expires_in", "1440"),
                ("password_reset_expires_in", "30"),
                ("admin_emails", ""),
                ("mfa_issuer", "spin-auth"),
                ("mfa_encryption_key", ""),
                ("mfa_previous_encryption_keys", ""),
            ]
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
            for (k, v) in pairs {
                map.insert(k, (*v).to_owned());
            }
            MapVariables(map)
        }
    }

    impl Variables for MapVariables {
        fn get(&self, name: &str) -> Result<String, String> {
            self.0
                .get(name)
                .cloned()
                .ok_or_else(|| format!("undefined variable {name}"))
        }
    }

    #[test]
    fn defaults_parse() {
        let vars = MapVariables::with(&[]);
        let config = Config::new(&vars);
        assert_eq!(config.access_token_lifetime_secs(), Ok(900));
        assert_eq!(config.refresh_token_lifetime_secs(), Ok(3600));
        assert_eq!(config.session_absolute_timeout_secs(), Ok(604_800));
        assert_eq!(config.refresh_reuse_grace_secs(), Ok(0));
        assert_eq!(config.cookie_secure(), Ok(true));
        assert_eq!(
            config.client_origins(),
            Ok(vec!["http://localhost:3000".to_owned()])
        );
        assert_eq!(config.audience(), Ok(Audience::default()));
        assert_eq!(config.algorithm(), Ok(Algorithm::RS256));
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let vars = MapVariables::with(&[
            ("access_token_expires_in", "soon"),
            ("cookie_secure", "maybe"),
            ("jwt_algorithm", "HS256"),
            ("database_url", "mysql://x"),
        ]);
        let config = Config::new(&vars);
        assert_eq!(
            config.access_token_lifetime_secs().unwrap_err().variable,
            "access_token_expires_in"
        );
        assert_eq!(
            config.cookie_secure().unwrap_err().variable,
            "cookie_secure"
        );
        assert_eq!(config.algorithm().unwrap_err().variable, "jwt_algorithm");
        assert_eq!(config.database().unwrap_err().variable, "database_url");
        assert_eq!(
            config.signing_key().err().unwrap().variable,
            "jwt_algorithm"
        );
    }

    #[test]
    fn database_url_picks_the_backend() {
        let database = |url: &str| {
            let vars = MapVariables::with(&[("database_url", url)]);
            Config::new(&vars).database()
        };
        assert_eq!(
            database("sqlite:default"),
            Ok(Database::Sqlite("default".into()))
        );
        assert_eq!(
            database(" sqlite:audit-log "),
            Ok(Database::Sqlite("audit-log".into()))
        );
        let pg = "postgres://u@db:5432/auth?sslmode=require";
        assert_eq!(database(pg), Ok(Database::Postgres(pg.into())));
        let keywords = "host=db user=u dbname=auth";
        assert_eq!(database(keywords), Ok(Database::Postgres(keywords.into())));
        for bad in [
            "sqlite:",
            "sqlite:/tmp/x.db",
            "sqlite:Default",
            "mysql://x",
            "",
        ] {
            let error = database(bad).unwrap_err();
            assert_eq!(error.variable, "database_url", "{bad}");
            assert!(
                error.problem.contains("sqlite:default"),
                "{bad}: {}",
                error.problem
            );
        }
    }

    #[test]
    fn zero_lifetimes_are_refused() {
        let vars = MapVariables::with(&[("refresh_token_expires_in", "0")]);
        assert!(Config::new(&vars).refresh_token_lifetime_secs().is_err());
    }

    #[test]
    fn missing_keys_are_reported_by_name() {
        let vars = MapVariables::with(&[]);
        let config = Config::new(&vars);
        assert_eq!(
            config.verifying_keys().err().unwrap().variable,
            "jwt_public_key"
        );
        assert_eq!(
            config.signing_key().err().unwrap().variable,
            "jwt_private_key"
        );
    }

    #[test]
    fn origins_and_additional_keys_are_lists() {
        let vars = MapVariables::with(&[("client_origin", " http://a.test , https://b.test/ ,")]);
        assert_eq!(
            Config::new(&vars).client_origins(),
            Ok(vec![
                "http://a.test".to_owned(),
                "https://b.test".to_owned()
            ])
        );
        assert_eq!(split_keys(" a , ,b"), vec!["a", "b"]);
        assert!(split_keys("").is_empty());
    }

    #[test]
    fn issuer_and_audience_when_set() {
        let vars = MapVariables::with(&[("jwt_issuer", "https://auth"), ("jwt_audience", " api ")]);
        let audience = Config::new(&vars).audience().unwrap();
        assert_eq!(audience.issuer.as_deref(), Some("https://auth"));
        assert_eq!(audience.audience.as_deref(), Some("api"));
    }

    #[test]
    fn a_null_or_wildcard_origin_makes_client_origin_malformed() {
        for list in [
            "null",
            "http://localhost:3000, NULL ",
            "*",
            "https://app.example.com,*",
            " Null/ ,https://app.example.com",
        ] {
            let vars = MapVariables::with(&[("client_origin", list)]);
            let error = Config::new(&vars).client_origins().unwrap_err();
            assert_eq!(error.variable, "client_origin", "{list}");
            assert!(
                error.problem.contains("any site"),
                "{list}: {}",
                error.problem
            );
        }
        // Only whole entries count: a host that merely contains the word is
        // an origin like any other.
        let vars = MapVariables::with(&[("client_origin", "https://null.example.com")]);
        assert_eq!(
            Config::new(&vars).client_origins(),
            Ok(vec!["https://null.example.com".to_owned()])
        );
        let vars = MapVariables(HashMap::new());
        assert_eq!(
            Config::new(&vars).client_origins().unwrap_err().variable,
            "client_origin"
        );
    }

    #[test]
    fn a_reuse_grace_over_60_seconds_is_malformed() {
        let grace = |value: &str| {
            let vars = MapVariables::with(&[("refresh_reuse_grace_seconds", value)]);
            Config::new(&vars).refresh_reuse_grace_secs()
        };
        assert_eq!(grace("60"), Ok(60));
        assert_eq!(grace(" 0 "), Ok(0));
        for weak in ["61", "3600"] {
            let error = grace(weak).unwrap_err();
            assert_eq!(error.variable, "refresh_reuse_grace_seconds");
            assert!(error.problem.contains("0 to 60"), "{}", error.problem);
        }
    }

    #[test]
    fn an_access_token_lifetime_over_a_day_is_malformed() {
        let lifetime = |value: &str| {
            let vars = MapVariables::with(&[("access_token_expires_in", value)]);
            Config::new(&vars).access_token_lifetime_secs()
        };
        assert_eq!(lifetime("1440"), Ok(86_400));
        for weak in ["1441", "525600"] {
            let error = lifetime(weak).unwrap_err();
            assert_eq!(error.variable, "access_token_expires_in");
            assert!(error.problem.contains("1 to 1440"), "{}", error.problem);
        }
    }

    #[test]
    fn an_rsa_key_under_2048_bits_names_its_variable() {
        use crate::auth::keys::tests::rsa_pem_pair;
        let (weak_private, weak_public) = rsa_pem_pair(1024);
        let (private, public) = rsa_pem_pair(2048);
        let cases = [
            (
                weak_private.as_str(),
                public.as_str(),
                "",
                "jwt_private_key",
            ),
            (private.as_str(), weak_public.as_str(), "", "jwt_public_key"),
            (
                private.as_str(),
                public.as_str(),
                weak_public.as_str(),
                "jwt_additional_public_keys",
            ),
        ];
        for (private_key, public_key, additional, variable) in cases {
            let vars = MapVariables::with(&[
                ("jwt_private_key", private_key),
                ("jwt_public_key", public_key),
                ("jwt_additional_public_keys", additional),
            ]);
            let config = Config::new(&vars);
            let error = config.signing_key().err().unwrap();
            assert_eq!(error.variable, variable);
            assert!(error.problem.contains("1024 bits"), "{}", error.problem);
            // Verification reads the public keys only.
            let verifying = config.verifying_keys().map(|keys| keys.len());
            if variable == "jwt_private_key" {
                assert_eq!(verifying, Ok(1));
            } else {
                assert_eq!(verifying.unwrap_err().variable, variable);
            }
        }
    }

    #[test]
    fn the_email_hook_must_be_signed_and_private_or_https() {
        let hook = |url: &str, secret: &str| {
            let vars =
                MapVariables::with(&[("email_webhook_url", url), ("email_webhook_secret", secret)]);
            Config::new(&vars).email_hook().map(|h| h.map(|h| h.url))
        };
        let secret = "whsec_c2VjcmV0";
        assert_eq!(hook("", ""), Ok(None));
        for ok in [
            "https://hooks.example.com/mail",
            "http://127.0.0.1:8025/hook",
            "http://localhost:9/x",
            "http://[::1]:8025/",
        ] {
            assert_eq!(hook(ok, secret), Ok(Some(ok.to_owned())), "{ok}");
        }
        for weak in [
            "http://hooks.example.com/mail",
            "http://10.0.0.1/x",
            "ftp://x.example/",
        ] {
            assert_eq!(
                hook(weak, secret).unwrap_err().variable,
                "email_webhook_url",
                "{weak}"
            );
        }
        assert_eq!(
            hook("https://h.example", "").unwrap_err().variable,
            "email_webhook_secret"
        );
        assert_eq!(
            hook("https://h.example", "whsec_!!").unwrap_err().variable,
            "email_webhook_secret"
        );
    }

    #[test]
    fn required_verification_needs_a_hook() {
        let vars = MapVariables::with(&[("require_email_verification", "true")]);
        assert_eq!(
            Config::new(&vars)
                .require_email_verification()
                .unwrap_err()
                .variable,
            "email_webhook_url"
        );
        let vars = MapVariables::with(&[
            ("require_email_verification", "true"),
            ("email_webhook_url", "https://h.example"),
            ("email_webhook_secret", "whsec_c2VjcmV0"),
        ]);
        assert_eq!(Config::new(&vars).require_email_verification(), Ok(true));
    }

    #[test]
    fn links_default_to_the_first_client_origin_and_need_the_placeholder() {
        let vars =
            MapVariables::with(&[("client_origin", "https://app.example, https://b.example")]);
        let config = Config::new(&vars);
        assert_eq!(
            config.password_reset_link().unwrap().with_token("T"),
            "https://app.example/reset-password#token=T"
        );
        assert_eq!(
            config.email_verification_link().unwrap().with_token("T"),
            "https://app.example/verify-email#token=T"
        );
        let vars = MapVariables::with(&[("password_reset_url", "https://app.example/reset")]);
        assert_eq!(
            Config::new(&vars)
                .password_reset_link()
                .unwrap_err()
                .variable,
            "password_reset_url"
        );
    }

    #[test]
    fn discovery_needs_an_https_or_loopback_issuer() {
        let issuer = |value: &str| {
            let vars = MapVariables::with(&[("jwt_issuer", value)]);
            Config::new(&vars).discoverable_issuer().unwrap()
        };
        assert_eq!(issuer(""), None);
        assert_eq!(
            issuer("https://auth.example.com/"),
            Some("https://auth.example.com/".into())
        );
        assert_eq!(
            issuer("http://127.0.0.1:8000"),
            Some("http://127.0.0.1:8000".into())
        );
        assert_eq!(issuer("http://auth.example.com"), None);
        assert_eq!(issuer("spin-auth"), None);
    }

    #[test]
    fn admin_emails_are_normalised() {
        let vars = MapVariables::with(&[("admin_emails", " Root@Example.com, ,ops@example.com")]);
        assert_eq!(
            Config::new(&vars).admin_emails(),
            Ok(vec![
                "root@example.com".to_owned(),
                "ops@example.com".to_owned()
            ])
        );
    }

    #[test]
    fn mfa_keys_are_32_bytes_of_base64_current_first() {
        let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let old = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";
        let none = MapVariables::with(&[]);
        assert_eq!(Config::new(&none).mfa_keys(), Ok(None));
        let error = Config::new(&none).required_mfa_keys().unwrap_err();
        assert_eq!(error.variable, "mfa_encryption_key");
        assert_eq!(Config::new(&none).mfa_issuer().unwrap(), "spin-auth");
        let both = MapVariables::with(&[
            ("mfa_encryption_key", key),
            ("mfa_previous_encryption_keys", &format!(" {old} ,")),
        ]);
        let keys = Config::new(&both).required_mfa_keys().unwrap();
        assert_eq!(keys.current, SecretKey::from_bytes(&[1; 32]).unwrap());
        assert_eq!(
            keys.previous,
            vec![SecretKey::from_bytes(&[2; 32]).unwrap()]
        );
        for (variable, value, problem) in [
            ("mfa_encryption_key", "c2hvcnQ=", "expected 32 bytes, got 5"),
            ("mfa_encryption_key", "not base64!", "not base64"),
            (
                "mfa_previous_encryption_keys",
                "c2hvcnQ=",
                "expected 32 bytes, got 5",
            ),
        ] {
            let vars = MapVariables::with(&[("mfa_encryption_key", key), (variable, value)]);
            let error = Config::new(&vars).mfa_keys().unwrap_err();
            assert_eq!(
                (error.variable, error.problem.as_str()),
                (variable, problem)
            );
        }
    }
}
