use serde_json::json;

use crate::error::ApiError;
use crate::http::Response;

/// `GET /api/healthchecker`: the tutorial's liveness answer.
pub fn check() -> Result<Response, ApiError> {
    Ok(Response::json(200, &json!({"message": "Hello World"})))
}
