//! The one error map: each [`ApiError`] becomes its status, its FastAPI-style
//! `{"detail": ...}` body and the headers the contract ties to it. The only
//! place that picks HTTP status codes for failures.

use serde_json::{json, Value};

use super::Response;
use crate::error::{ApiError, FieldError};

pub const UNAVAILABLE_DETAIL: &str = "Service temporarily unavailable";

pub fn status(error: &ApiError) -> u16 {
    match error {
        ApiError::BadRequest(_) => 400,
        ApiError::Unauthorized { .. } => 401,
        ApiError::Forbidden(_) => 403,
        ApiError::NotFound | ApiError::NotFoundDetail(_) => 404,
        ApiError::MethodNotAllowed { .. } => 405,
        ApiError::Conflict(_) => 409,
        ApiError::PayloadTooLarge => 413,
        ApiError::UnsupportedMediaType => 415,
        ApiError::Validation(_) => 422,
        ApiError::TooManyRequests { .. } => 429,
        ApiError::Unavailable | ApiError::Migrating => 503,
    }
}

fn detail(error: &ApiError) -> Value {
    let text = match error {
        ApiError::BadRequest(d)
        | ApiError::Forbidden(d)
        | ApiError::Conflict(d)
        | ApiError::NotFoundDetail(d) => *d,
        ApiError::Unauthorized { detail, .. } => detail,
        ApiError::NotFound => "Not Found",
        ApiError::MethodNotAllowed { .. } => "Method Not Allowed",
        ApiError::PayloadTooLarge => "Request body too large",
        ApiError::UnsupportedMediaType => "Unsupported Media Type: use application/json",
        ApiError::TooManyRequests { .. } => "Too many failed login attempts, try again later",
        ApiError::Unavailable | ApiError::Migrating => UNAVAILABLE_DETAIL,
        ApiError::Validation(errors) => {
            return Value::Array(errors.iter().map(field_error_json).collect())
        }
    };
    Value::String(text.to_owned())
}

/// One entry of the `422` list, in Pydantic's shape.
fn field_error_json(error: &FieldError) -> Value {
    json!({ "loc": error.loc, "msg": error.msg, "type": error.kind })
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        let mut response = Response::json(status(&error), &json!({ "detail": detail(&error) }));
        match &error {
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
            // A migration takes a moment; clients may try again at once.
            ApiError::Migrating => response.set_header("retry-after", "1"),
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;

    fn body(response: &Response) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn validation_errors_use_fastapi_list_shape() {
        let response = Response::from(ApiError::Validation(vec![FieldError::field(
            "email",
            "missing",
            "Field required",
        )]));
        assert_eq!(response.status, 422);
        assert_eq!(
            body(&response),
            json!({"detail": [{"loc": ["body", "email"], "msg": "Field required", "type": "missing"}]})
        );
    }

    #[test]
    fn unauthorized_carries_bearer_challenge() {
        let plain = Response::from(ApiError::unauthorized("You are not logged in"));
        assert_eq!(plain.header("www-authenticate"), Some("Bearer"));
        let invalid = Response::from(ApiError::invalid_token("Token is invalid or has expired"));
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
        assert_eq!(status(&ApiError::from(StoreError::Conflict)), 409);
        let migrating = Response::from(ApiError::from(StoreError::Migrating));
        assert_eq!(
            (migrating.status, migrating.header("retry-after")),
            (503, Some("1"))
        );
        let unavailable = Response::from(ApiError::from(StoreError::Unavailable("down".into())));
        assert_eq!(unavailable.status, 503);
        assert_eq!(
            body(&unavailable),
            json!({"detail": "Service temporarily unavailable"})
        );
    }

    #[test]
    fn rate_limit_and_405_carry_their_headers() {
        let limited = Response::from(ApiError::TooManyRequests {
            retry_after_secs: 42,
        });
        assert_eq!(limited.header("retry-after"), Some("42"));
        let wrong = Response::from(ApiError::MethodNotAllowed {
            allow: "GET, POST".into(),
        });
        assert_eq!(wrong.header("allow"), Some("GET, POST"));
    }
}
