//! JSON request bodies: size and content-type checks, then typed field
//! extraction that reports every problem at once, FastAPI style. No silent
//! coercion: `123` is not a string.

use serde_json::{Map, Value};

use super::{Body, Request};
use crate::error::{ApiError, FieldError};

/// Checks run in the contract's order: `413`, `415`, then JSON shape (`422`).
/// Returns the body's top-level object.
pub fn json_object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes = match &request.body {
        Body::TooLarge => return Err(ApiError::PayloadTooLarge),
        Body::Bytes(bytes) => bytes,
    };
    if !is_json_content_type(request.header("content-type")) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::Validation(vec![FieldError::body(
            "json_invalid",
            "Invalid UTF-8 in request body",
        )])
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::Validation(vec![FieldError::body(
            "json_invalid",
            format!("JSON decode error: {e}"),
        )])
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Validation(vec![FieldError::body(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )])),
    }
}

/// `application/json`, optionally with parameters such as `charset`.
fn is_json_content_type(value: Option<&str>) -> bool {
    value
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Collects field errors while a typed request is built from a JSON object.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

/// Length limits in Unicode code points, inclusive.
#[derive(Debug, Clone, Copy)]
pub struct Length {
    pub min: usize,
    pub max: usize,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Fields {
            object,
            errors: Vec::new(),
        }
    }

    /// A required string field.
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            None => {
                self.errors
                    .push(FieldError::field(name, "missing", "Field required"));
                None
            }
            Some(value) => self.expect_string(name, value),
        }
    }

    /// An optional string field: absent and `null` both give `None`.
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.expect_string(name, value),
        }
    }

    /// An optional boolean field (absent gives `None`; `null` or another
    /// type is a `422`).
    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.object.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.errors.push(FieldError::field(
                    name,
                    "bool_type",
                    "Input should be a valid boolean",
                ));
                None
            }
        }
    }

    fn expect_string(&mut self, name: &str, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.errors.push(FieldError::field(
                    name,
                    "string_type",
                    "Input should be a valid string",
                ));
                None
            }
        }
    }

    /// Checks a string's length; returns it back when it fits.
    pub fn length(&mut self, name: &str, value: Option<String>, limit: Length) -> Option<String> {
        let value = value?;
        let count = value.chars().count();
        if count < limit.min {
            let unit = if limit.min == 1 {
                "character"
            } else {
                "characters"
            };
            self.errors.push(FieldError::field(
                name,
                "string_too_short",
                format!("String should have at least {} {unit}", limit.min),
            ));
            return None;
        }
        if count > limit.max {
            self.errors.push(FieldError::field(
                name,
                "string_too_long",
                format!("String should have at most {} characters", limit.max),
            ));
            return None;
        }
        Some(value)
    }

    /// Records a failed format rule for `name`.
    pub fn invalid(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::field(name, "value_error", message));
    }

    /// `Ok(())` when no rule failed, else the whole list as a `422`.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(content_type: Option<&str>, body: &[u8]) -> Request {
        let request = Request::new("POST", "/x").with_body(body);
        match content_type {
            Some(ct) => request.with_header("content-type", ct),
            None => request,
        }
    }

    #[test]
    fn size_is_checked_before_content_type() {
        let mut request = post(Some("text/plain"), b"");
        request.body = Body::TooLarge;
        assert_eq!(json_object(&request), Err(ApiError::PayloadTooLarge));
    }

    #[test]
    fn content_type_must_be_json_with_optional_charset() {
        assert_eq!(
            json_object(&post(None, b"{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert_eq!(
            json_object(&post(Some("text/plain"), b"{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert!(json_object(&post(Some("application/json; charset=utf-8"), b"{}")).is_ok());
        assert!(json_object(&post(Some("Application/JSON"), b"{}")).is_ok());
    }

    #[test]
    fn malformed_and_non_object_bodies_are_422_at_body() {
        for body in [&b"{"[..], b"[1,2]", b"\"text\"", b"\xff\xfe", b""] {
            match json_object(&post(Some("application/json"), body)) {
                Err(ApiError::Validation(errors)) => assert_eq!(errors[0].loc, vec!["body"]),
                other => panic!("expected 422 for {body:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn fields_report_every_problem_without_coercion() {
        let object = serde_json::json!({"a": 123, "c": null, "d": "ab"});
        let object = object.as_object().unwrap();
        let mut fields = Fields::new(object);
        assert_eq!(fields.string("a"), None);
        assert_eq!(fields.string("b"), None);
        assert_eq!(fields.optional_string("c"), None);
        let d = fields.string("d");
        assert_eq!(fields.length("d", d, Length { min: 3, max: 5 }), None);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("expected 422")
        };
        let kinds: Vec<_> = errors.iter().map(|e| (e.loc[1].as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("a", "string_type"),
                ("b", "missing"),
                ("d", "string_too_short")
            ]
        );
    }

    #[test]
    fn length_counts_code_points() {
        let object = serde_json::Map::new();
        let mut fields = Fields::new(&object);
        let four_emoji = Some("😀😀😀😀".to_owned());
        assert!(fields
            .length("x", four_emoji, Length { min: 1, max: 4 })
            .is_some());
        assert!(fields.finish().is_ok());
    }
}
