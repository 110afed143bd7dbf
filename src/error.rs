//! The one error type of the service. It names each failure the contract
//! knows, and nothing of how it is sent: `http::errors` maps it to status,
//! body and headers. Handlers return `Result<Response, ApiError>`.

/// One entry of a FastAPI-style `422` list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// `["body"]` for the body as a whole, `["body", "<field>"]` for a field.
    pub loc: Vec<String>,
    pub msg: String,
    /// Pydantic's error type names (`missing`, `string_type`, ...), so that
    /// front ends written for the FastAPI tutorial understand them.
    pub kind: &'static str,
}

impl FieldError {
    pub fn body(kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec!["body".into()],
            msg: msg.into(),
            kind,
        }
    }

    pub fn field(field: &str, kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400 with a contract message.
    BadRequest(&'static str),
    /// 401; `token_presented` adds `error="invalid_token"` to the challenge.
    Unauthorized {
        detail: &'static str,
        token_presented: bool,
    },
    /// 403 (CSRF refusals).
    Forbidden(&'static str),
    NotFound,
    /// 404 with a contract message (`Session not found`).
    NotFoundDetail(&'static str),
    /// 405; `allow` lists the methods the path answers.
    MethodNotAllowed {
        allow: String,
    },
    /// 409 with a contract message.
    Conflict(&'static str),
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation(Vec<FieldError>),
    /// 429 with `Retry-After` in whole seconds.
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// 503: the database or a setting failed. The cause was logged where it
    /// happened; the client learns nothing about internals.
    Unavailable,
    /// 503 with `Retry-After`: another instance is migrating the schema.
    Migrating,
}

impl ApiError {
    pub fn unauthorized(detail: &'static str) -> Self {
        ApiError::Unauthorized {
            detail,
            token_presented: false,
        }
    }

    pub fn invalid_token(detail: &'static str) -> Self {
        ApiError::Unauthorized {
            detail,
            token_presented: true,
        }
    }

    /// An internal failure (no randomness, a signing error): logged, `503`.
    pub fn internal(error: anyhow::Error) -> Self {
        crate::log::error(&format!("internal failure: {error:#}"));
        ApiError::Unavailable
    }
}

/// A storage failure, as the domain sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// A unique constraint was violated (e.g. the email is taken).
    Conflict,
    /// The database is down, unreachable or failed; the text is for the log
    /// only (no SQL, no values).
    Unavailable(String),
    /// Another instance is migrating the schema: try again in a moment.
    Migrating,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => ApiError::Conflict("Account already exist"),
            StoreError::Unavailable(reason) => {
                crate::log::error(&format!("database unavailable: {reason}"));
                ApiError::Unavailable
            }
            StoreError::Migrating => {
                crate::log::warn("another instance is migrating the database schema: 503");
                ApiError::Migrating
            }
        }
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl From<ConfigError> for ApiError {
    fn from(error: ConfigError) -> Self {
        crate::log::error(&format!(
            "configuration error: variable `{}`: {}",
            error.variable, error.problem
        ));
        ApiError::Unavailable
    }
}

impl From<crate::auth::mfa::MfaError> for ApiError {
    fn from(error: crate::auth::mfa::MfaError) -> Self {
        use crate::auth::mfa::MfaError;
        match error {
            MfaError::Store(error) => error.into(),
            MfaError::Key(error) => error.into(),
            MfaError::Random => ApiError::internal(anyhow::anyhow!("no OS randomness")),
        }
    }
}
