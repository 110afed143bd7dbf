//! The one error type of the service, and the only place that picks HTTP
//! status codes for failures. Handlers return `Result<Response, ApiError>`.

use serde_json::{json, Value};

use crate::http::Response;

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

    fn to_json(&self) -> Value {
        json!({ "loc": self.loc, "msg": self.msg, "type": self.kind })
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
    MethodNotAllowed {
        allow: &'static str,
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
}

pub const UNAVAILABLE_DETAIL: &str = "Service temporarily unavailable";

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

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Validation(_) => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Unavailable => 503,
        }
    }

    fn detail(&self) -> Value {
        let text = match self {
            ApiError::BadRequest(d) | ApiError::Forbidden(d) | ApiError::Conflict(d) => *d,
            ApiError::Unauthorized { detail, .. } => detail,
            ApiError::NotFound => "Not Found",
            ApiError::MethodNotAllowed { .. } => "Method Not Allowed",
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::UnsupportedMediaType => "Unsupported Media Type: use application/json",
            ApiError::TooManyRequests { .. } => "Too many failed login attempts, try again later",
            ApiError::Unavailable => UNAVAILABLE_DETAIL,
            ApiError::Validation(errors) => {
                return Value::Array(errors.iter().map(FieldError::to_json).collect())
            }
        };
        Value::String(text.to_owned())
    }

    pub fn into_response(self) -> Response {
        let mut response = Response::json(self.status(), &json!({ "detail": self.detail() }));
        match &self {
            ApiError::Unauthorized {
                token_presented: true,
                ..
            } => response.set_header("www-authenticate", "Bearer error=\"invalid_token\""),
            ApiError::Unauthorized {
                token_presented: false,
                ..
            } => response.set_header("www-authenticate", "Bearer"),
            ApiError::MethodNotAllowed { allow } => response.set_header("allow", allow),
            ApiError::TooManyRequests { retry_after_secs } => {
                response.set_header("retry-after", &retry_after_secs.to_string())
            }
            _ => {}
        }
        response
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
                ApiError::Unavailable
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn validation_errors_use_fastapi_list_shape() {
        let response = ApiError::Validation(vec![FieldError::field(
            "email",
            "missing",
            "Field required",
        )])
        .into_response();
        assert_eq!(response.status, 422);
        assert_eq!(
            body(&response),
            json!({"detail": [{"loc": ["body", "email"], "msg": "Field required", "type": "missing"}]})
        );
    }

    #[test]
    fn unauthorized_carries_bearer_challenge() {
        let plain = ApiError::unauthorized("You are not logged in").into_response();
        assert_eq!(plain.header("www-authenticate"), Some("Bearer"));
        let invalid = ApiError::invalid_token("Token is invalid or has expired").into_response();
        assert_eq!(
            invalid.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(
            body(&invalid),
            json!({"detail": "Token is invalid or has expired"})
        );
    }

    #[test]
    fn store_errors_map_to_conflict_and_503() {
        assert_eq!(ApiError::from(StoreError::Conflict).status(), 409);
        let unavailable = ApiError::from(StoreError::Unavailable("down".into())).into_response();
        assert_eq!(unavailable.status, 503);
        assert_eq!(
            body(&unavailable),
            json!({"detail": "Service temporarily unavailable"})
        );
    }

    #[test]
    fn rate_limit_and_405_carry_their_headers() {
        let limited = ApiError::TooManyRequests {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(limited.header("retry-after"), Some("42"));
        let wrong = ApiError::MethodNotAllowed { allow: "GET, POST" }.into_response();
        assert_eq!(wrong.header("allow"), Some("GET, POST"));
    }
}
