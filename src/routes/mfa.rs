//! `/api/users/me/mfa/totp`: enrolling, confirming and disabling the
//! caller's TOTP factor, and the code check that `DELETE /api/users/me`
//! shares with disabling.

use serde_json::json;

use super::auth::throttle;
use super::caller::{client, signed_in};
use super::users::confirm_password;
use super::{success, Context};
use crate::auth::mfa::{self, CodeCheck, MfaKeys};
use crate::auth::validation::{CodeBody, DisableMfaRequest, PasswordBody};
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::Response;
use crate::store::{Throttle, User};

pub const INVALID_CODE: ApiError = ApiError::BadRequest("Invalid code");

/// `POST /api/users/me/mfa/totp`: a new pending factor after the password
/// re-check.
pub fn enroll(ctx: &Context) -> Result<Response, ApiError> {
    let (_, user) = signed_in(ctx)?;
    let body = PasswordBody::from_json(&json_object(ctx.request)?)?;
    let (throttle, keys, issuer) = (
        throttle(ctx)?,
        ctx.config.required_mfa_keys()?,
        ctx.config.mfa_issuer()?,
    );
    confirm_password(ctx, throttle, &user, &body.password)?;
    let enrollment = mfa::enroll(ctx.store, &keys, &issuer, &user)?.ok_or(ApiError::Conflict(
        "Two-factor authentication is already enabled",
    ))?;
    Ok(Response::json(
        200,
        &json!({"secret": enrollment.secret, "otpauth_url": enrollment.otpauth_url}),
    ))
}

/// `POST /api/users/me/mfa/totp/confirm`: two-factor on, the recovery codes
/// shown this once, every other session revoked.
pub fn confirm(ctx: &Context) -> Result<Response, ApiError> {
    let (identity, user) = signed_in(ctx)?;
    let body = CodeBody::from_json(&json_object(ctx.request)?)?;
    let keys = ctx.config.required_mfa_keys()?;
    let codes = mfa::confirm(
        ctx.store,
        &keys,
        &user,
        &identity.session_id,
        &body.code,
        unix_now_secs(),
        &client(ctx),
    )?
    .ok_or(INVALID_CODE)?;
    Ok(Response::json(200, &json!({"recovery_codes": codes})))
}

const NOT_ENABLED: ApiError = ApiError::BadRequest("Two-factor authentication is not enabled");

/// `DELETE /api/users/me/mfa/totp`: not on, then the password, then the code.
pub fn disable(ctx: &Context) -> Result<Response, ApiError> {
    let (identity, user) = signed_in(ctx)?;
    let body = DisableMfaRequest::from_json(&json_object(ctx.request)?)?;
    let (throttle, keys) = (throttle(ctx)?, ctx.config.required_mfa_keys()?);
    if !ctx.store.mfa_enabled(&user.id)? {
        return Err(NOT_ENABLED);
    }
    confirm_password(ctx, throttle, &user, &body.password)?;
    require_code(ctx, &keys, throttle, &user, Some(&body.code))?;
    if !ctx
        .store
        .delete_factor(&user.id, &identity.session_id, &client(ctx))?
    {
        return Err(NOT_ENABLED);
    }
    Ok(success())
}

/// A TOTP or recovery code of a user with two-factor on, spent; a missing
/// or wrong one is `400 Invalid code`, counted as a failed login (`429`
/// once the email is locked). The right one clears the email's count.
pub fn require_code(
    ctx: &Context,
    keys: &MfaKeys,
    throttle: Throttle,
    user: &User,
    code: Option<&str>,
) -> Result<(), ApiError> {
    let now = unix_now_secs();
    match mfa::check_code(ctx.store, keys, throttle, user, code, now, &client(ctx))? {
        CodeCheck::Accepted => Ok(ctx.store.clear_login_attempts(&user.email)?),
        CodeCheck::Wrong => Err(INVALID_CODE),
        CodeCheck::Locked { retry_after_secs } => {
            Err(ApiError::TooManyRequests { retry_after_secs })
        }
    }
}

/// The wall clock in whole seconds (TOTP's time steps).
pub fn unix_now_secs() -> u64 {
    (crate::store::system_clock_us() / 1_000_000).max(0) as u64
}
