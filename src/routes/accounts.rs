//! The account routes under `/api/auth/` (docs/API.md, Accounts): verify
//! the email, resend the verification, forgot and reset the password. The
//! routes that take an email answer the same whether or not it is
//! registered.

use serde_json::json;

use super::caller::client;
use super::{success, Context};
use crate::auth::accounts::{self, TokenEmail};
use crate::auth::validation::{EmailBody, ResetPasswordRequest, TokenBody};
use crate::email::Mailer;
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::Response;
use crate::store::TokenKind;

const INVALID_TOKEN: ApiError = ApiError::BadRequest("Invalid or expired token");

/// `POST /api/auth/verify-email`.
pub fn verify_email(ctx: &Context) -> Result<Response, ApiError> {
    let body = TokenBody::from_json(&json_object(ctx.request)?)?;
    let admin_emails = ctx.config.admin_emails()?;
    if !accounts::verify_email(ctx.store, &body.token, admin_emails, &client(ctx))? {
        return Err(INVALID_TOKEN);
    }
    Ok(success())
}

/// `POST /api/auth/resend-verification`: always `202`.
pub fn resend_verification(ctx: &Context) -> Result<Response, ApiError> {
    let body = EmailBody::from_json(&json_object(ctx.request)?)?;
    let (mailer, flow) = (mailer(ctx)?, verification_email(ctx)?);
    accounts::send_token_email(ctx.store, &mailer, &flow, &body.email, &client(ctx))?;
    Ok(accepted())
}

/// `POST /api/auth/forgot-password`: always `202`.
pub fn forgot_password(ctx: &Context) -> Result<Response, ApiError> {
    let body = EmailBody::from_json(&json_object(ctx.request)?)?;
    let flow = TokenEmail {
        kind: TokenKind::PasswordReset,
        lifetime_secs: ctx.config.password_reset_lifetime_secs()?,
        link: ctx.config.password_reset_link()?,
    };
    let mailer = mailer(ctx)?;
    accounts::send_token_email(ctx.store, &mailer, &flow, &body.email, &client(ctx))?;
    Ok(accepted())
}

/// `POST /api/auth/reset-password`.
pub fn reset_password(ctx: &Context) -> Result<Response, ApiError> {
    let body = ResetPasswordRequest::from_json(&json_object(ctx.request)?)?;
    if body.password != body.password_confirm {
        return Err(ApiError::BadRequest("Passwords do not match"));
    }
    let (mailer, admin_emails) = (mailer(ctx)?, ctx.config.admin_emails()?);
    let reset = accounts::reset_password(
        ctx.store,
        &mailer,
        &body.token,
        &body.password,
        admin_emails,
        &client(ctx),
    )?;
    if !reset {
        return Err(INVALID_TOKEN);
    }
    Ok(success())
}

/// How verification emails are made (register's and resend's).
pub fn verification_email(ctx: &Context) -> Result<TokenEmail, ApiError> {
    Ok(TokenEmail {
        kind: TokenKind::EmailVerification,
        lifetime_secs: ctx.config.email_verification_lifetime_secs()?,
        link: ctx.config.email_verification_link()?,
    })
}

/// The configured hook (a weak one is a `503` before anything is done).
pub fn mailer<'a>(ctx: &Context<'a>) -> Result<Mailer<'a>, ApiError> {
    Ok(Mailer {
        transport: ctx.transport,
        hook: ctx.config.email_hook()?,
    })
}

fn accepted() -> Response {
    Response::json(202, &json!({"status": "accepted"}))
}
