use crate::error::ApiError;
use crate::http::Response;

/// The OpenAPI 3.1 document, checked in next to the code (`openapi.json`)
/// and validated against the routes by the black-box tests.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// `GET /api/openapi.json`.
pub fn document() -> Result<Response, ApiError> {
    let mut response = Response::empty(200);
    response.set_header("content-type", "application/json");
    response.body = DOCUMENT.as_bytes().to_vec();
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_json() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
    }
}
