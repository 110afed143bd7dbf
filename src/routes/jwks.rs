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

/// `GET /.well-known/openid-configuration`: discovery for resource servers,
/// from configuration only (never from the request's Host); `404` unless
/// `jwt_issuer` is an `https://` URL (or `http://` on a loopback host).
pub fn openid_configuration(ctx: &Context) -> Result<Response, ApiError> {
    let issuer = ctx
        .config
        .discoverable_issuer()?
        .ok_or(ApiError::NotFound)?;
    let algorithm = ctx.config.algorithm()?.name();
    let mut response = Response::json(
        200,
        &json!({
            "issuer": issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
            "id_token_signing_alg_values_supported": [algorithm],
            "token_endpoint_auth_methods_supported": ["none"],
        }),
    );
    response.set_header("cache-control", "public, max-age=300");
    Ok(response)
}
