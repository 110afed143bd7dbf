//! Who is calling: the access token verified with the configured keys, and
//! the CSRF rule that applies when the credential came from a cookie.

use super::Context;
use crate::auth::tokens::{verify_access_token, AccessIdentity};
use crate::error::ApiError;
use crate::http::cors;
use crate::http::credentials::{self, Source};

pub const NOT_LOGGED_IN: &str = "You are not logged in";
pub const TOKEN_INVALID: &str = "Token is invalid or has expired";

/// Verifies the request's access token (Bearer first, else the cookie).
pub fn authenticate(ctx: &Context) -> Result<AccessIdentity, ApiError> {
    let credential =
        credentials::access_token(ctx.request).ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    verify_access(ctx, &credential.token)?.ok_or(ApiError::invalid_token(TOKEN_INVALID))
}

/// `Ok(None)` when the token is refused; `Err` when a setting or key is
/// broken (a `503`, not the client's fault).
pub fn verify_access(ctx: &Context, token: &str) -> Result<Option<AccessIdentity>, ApiError> {
    let config = ctx.config;
    let (algorithm, keys, audience) = (
        config.algorithm()?,
        config.verifying_keys()?,
        config.audience()?,
    );
    Ok(verify_access_token(token, algorithm, keys, &audience).ok())
}

/// A page on another site cannot set `Authorization`, so only cookie
/// credentials need the Origin checks, and only they read `client_origin`
/// (a weak or malformed one is a `503` here).
pub fn check_csrf(ctx: &Context, source: Source) -> Result<(), ApiError> {
    match source {
        Source::Bearer => Ok(()),
        Source::Cookie => cors::check_cookie_request(ctx.request, &ctx.config.client_origins()?),
    }
}
