//! Who is calling: the access token verified with the configured keys, and
//! the CSRF rule that applies when the credential came from a cookie.

use super::Context;
use crate::auth::session::{self, CurrentUser};
use crate::auth::tokens::{verify_access_token, AccessIdentity};
use crate::error::ApiError;
use crate::http::cors;
use crate::http::credentials::{self, Source};
use crate::store::{Client, User};

pub const NOT_LOGGED_IN: &str = "You are not logged in";
pub const TOKEN_INVALID: &str = "Token is invalid or has expired";

/// The caller of a route that needs an access token, looked up as `/me`
/// does, with `/me`'s `401`s: the CSRF check first (for a cookie on an
/// unsafe method), then the token, then the user and its session.
pub fn signed_in(ctx: &Context) -> Result<(AccessIdentity, User), ApiError> {
    let credential =
        credentials::access_token(ctx.request).ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    if !matches!(ctx.request.method.as_str(), "GET" | "HEAD") {
        check_csrf(ctx, credential.source)?;
    }
    let identity =
        verify_access(ctx, &credential.token)?.ok_or(ApiError::invalid_token(TOKEN_INVALID))?;
    match session::current_user(ctx.store, &identity)? {
        CurrentUser::Active(user) => Ok((identity, user)),
        CurrentUser::UserGone => Err(ApiError::invalid_token("User no longer exist")),
        CurrentUser::SessionEnded => Err(ApiError::invalid_token(TOKEN_INVALID)),
        CurrentUser::Unverified => Err(ApiError::invalid_token("Please verify your account")),
    }
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

/// Where the request came from, for sessions and security events.
pub fn client(ctx: &Context) -> Client {
    Client {
        ip: ctx.request.client_ip(),
        user_agent: ctx.request.user_agent(),
    }
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
