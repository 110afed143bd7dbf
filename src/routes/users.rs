//! `/api/users/me`: the caller's own account (read, edit, change the
//! password, delete).

use super::accounts::mailer;
use super::auth::{cookies_cleared, throttle};
use super::caller::{client, signed_in};
use super::mfa::require_code;
use super::{success, Context};
use crate::auth::accounts::{self, Reauth};
use crate::auth::validation::{ChangePasswordRequest, DeleteAccountRequest, ProfileRequest};
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::Response;
use crate::json::user_json;
use crate::store::{ProfileUpdate, Throttle, User};

const USER_GONE: ApiError = ApiError::Unauthorized {
    detail: "User no longer exist",
    token_presented: true,
};

/// `GET /api/users/me`.
pub fn me(ctx: &Context) -> Result<Response, ApiError> {
    let (_, user) = signed_in(ctx)?;
    Ok(Response::json(200, &user_json(&user)))
}

/// `PATCH /api/users/me`: `name` and `photo` only.
pub fn update_me(ctx: &Context) -> Result<Response, ApiError> {
    let (_, user) = signed_in(ctx)?;
    let body = ProfileRequest::from_json(&json_object(ctx.request)?)?;
    let update = ProfileUpdate {
        name: body.name,
        photo: body.photo,
    };
    let updated = ctx
        .store
        .update_profile(&user.id, &update)?
        .ok_or(USER_GONE)?;
    Ok(Response::json(200, &user_json(&updated)))
}

/// `POST /api/users/me/password`: every other session is revoked.
pub fn change_password(ctx: &Context) -> Result<Response, ApiError> {
    let (identity, user) = signed_in(ctx)?;
    let body = ChangePasswordRequest::from_json(&json_object(ctx.request)?)?;
    let (throttle, mailer) = (throttle(ctx)?, mailer(ctx)?);
    refuse_locked(ctx, &user)?;
    if body.password != body.password_confirm {
        return Err(ApiError::BadRequest("Passwords do not match"));
    }
    confirm_password(ctx, throttle, &user, &body.current_password)?;
    let changed = accounts::change_password(
        ctx.store,
        &mailer,
        &user,
        &identity.session_id,
        &body.password,
        &client(ctx),
    )?;
    if !changed {
        return Err(USER_GONE);
    }
    Ok(success())
}

/// `DELETE /api/users/me`: the account, its tokens and events are gone,
/// and the caller's cookies are cleared.
pub fn delete_me(ctx: &Context) -> Result<Response, ApiError> {
    let (_, user) = signed_in(ctx)?;
    let body = DeleteAccountRequest::from_json(&json_object(ctx.request)?)?;
    let (throttle, secure) = (throttle(ctx)?, ctx.config.cookie_secure()?);
    // Read before the password counts: a missing key is a `503` first.
    let keys = match ctx.store.mfa_enabled(&user.id)? {
        true => Some(ctx.config.required_mfa_keys()?),
        false => None,
    };
    refuse_locked(ctx, &user)?;
    confirm_password(ctx, throttle, &user, &body.password)?;
    if let Some(keys) = &keys {
        require_code(ctx, keys, throttle, &user, body.code.as_deref())?;
    }
    if !accounts::delete_account(ctx.store, &user, &client(ctx))? {
        return Err(USER_GONE);
    }
    Ok(cookies_cleared(secure))
}

/// A locked email gets login's `429` before any other rule of the route.
fn refuse_locked(ctx: &Context, user: &User) -> Result<(), ApiError> {
    match ctx.store.login_lock(&user.email)? {
        Some(retry_after_secs) => Err(ApiError::TooManyRequests { retry_after_secs }),
        None => Ok(()),
    }
}

/// The password re-check, counted as a login attempt (`429` once locked).
pub(super) fn confirm_password(
    ctx: &Context,
    throttle: Throttle,
    user: &User,
    password: &str,
) -> Result<(), ApiError> {
    match accounts::reauthenticate(ctx.store, throttle, user, password, &client(ctx))? {
        Reauth::Confirmed => Ok(()),
        Reauth::WrongPassword => Err(ApiError::BadRequest("Incorrect password")),
        Reauth::Locked { retry_after_secs } => Err(ApiError::TooManyRequests { retry_after_secs }),
    }
}
