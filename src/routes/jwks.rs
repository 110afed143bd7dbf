use serde_json::{json, Value};

use super::Context;
use crate::error::ApiError;
use crate::http::Response;

/// `GET /.well-known/jwks.json`: the current key and every additional one,
/// so other services verify access tokens from this document alone.
pub fn keys(ctx: &Context) -> Result<Response, ApiError> {
    let keys: Vec<Value> = ctx
        .config
        .verifying_keys()?
        .iter()
        .map(|k| k.jwk())
        .collect();
    let mut response = Response::json(200, &json!({ "keys": keys }));
    response.set_header("cache-control", "public, max-age=300");
    Ok(response)
}
