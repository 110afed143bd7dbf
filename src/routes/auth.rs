//! `/api/auth/*`: register, login, refresh, logout, logout-all.

use serde_json::json;

use super::accounts::{mailer, verification_email};
use super::caller::{check_csrf, client, verify_access, NOT_LOGGED_IN};
use super::mfa::{unix_now_secs, INVALID_CODE};
use super::signer::Signer;
use super::{success, Context};
use crate::auth::accounts;
use crate::auth::login::{self, LoginOutcome};
use crate::auth::mfa::{self, SecondStep};
use crate::auth::passwords;
use crate::auth::refresh::{self, looks_like_jwt};
use crate::auth::rotation::{self, RefreshOutcome, RefreshPolicy, Refusal};
use crate::auth::session::{self, SessionLifetimes};
use crate::auth::tokens::Amr;
use crate::auth::validation::{LoginMfaRequest, LoginRequest, RegisterRequest};
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::cookies::expired_token_cookies;
use crate::http::credentials;
use crate::http::Response;
use crate::json::user_json;
use crate::store::{NewUser, Throttle};

const COULD_NOT_REFRESH: ApiError = ApiError::Unauthorized {
    detail: "Could not refresh access token",
    token_presented: true,
};
const USER_GONE_FOR_REFRESH: &str = "The user belonging to this token no longer exist";

/// `POST /api/auth/register`.
pub fn register(ctx: &Context) -> Result<Response, ApiError> {
    let request = RegisterRequest::from_json(&json_object(ctx.request)?)?;
    if request.password != request.password_confirm {
        return Err(ApiError::BadRequest("Passwords do not match"));
    }
    // Read before anything is written: a weak hook setting is a `503`.
    let verification = if ctx.config.require_email_verification()? {
        Some((mailer(ctx)?, verification_email(ctx)?))
    } else {
        None
    };
    let password_hash = passwords::hash(&request.password).map_err(ApiError::internal)?;
    let user = ctx.store.insert_user(&NewUser {
        name: request.name,
        email: request.email,
        password_hash,
        photo: request.photo,
        verified: verification.is_none(),
    })?;
    if let Some((mailer, flow)) = verification {
        accounts::send_token_email(ctx.store, &mailer, &flow, &user.email, &client(ctx))?;
    }
    Ok(Response::json(201, &user_json(&user)))
}

/// `POST /api/auth/login`.
pub fn login(ctx: &Context) -> Result<Response, ApiError> {
    let request = LoginRequest::from_json(&json_object(ctx.request)?)?;
    let throttle = throttle(ctx)?;
    // Every setting and key the answer needs is read before the password
    // is checked: a malformed or weak one is a `503` that counts no attempt,
    // whatever the password.
    let lifetimes = session_lifetimes(ctx)?;
    let signer = Signer::new(ctx)?;
    match login::login(
        ctx.store,
        throttle,
        &request.email,
        &request.password,
        &client(ctx),
    )? {
        LoginOutcome::Locked { retry_after_secs } => {
            Err(ApiError::TooManyRequests { retry_after_secs })
        }
        LoginOutcome::WrongCredentials => Err(ApiError::BadRequest("Incorrect Email or Password")),
        LoginOutcome::Disabled => Err(ApiError::Forbidden("Account disabled")),
        LoginOutcome::Unverified => Err(ApiError::unauthorized("Please verify your email address")),
        LoginOutcome::MfaRequired(user) => {
            let mfa_token = mfa::start_second_step(ctx.store, &user, &client(ctx))?;
            Ok(Response::json(
                200,
                &json!({"status": "mfa_required", "mfa_token": mfa_token}),
            ))
        }
        LoginOutcome::LoggedIn(user) => {
            start_session(ctx, &signer, lifetimes, &user.id, Amr::Password)
        }
    }
}

/// `POST /api/auth/login/mfa`: the second step, with a TOTP or recovery code.
pub fn login_mfa(ctx: &Context) -> Result<Response, ApiError> {
    let request = LoginMfaRequest::from_json(&json_object(ctx.request)?)?;
    let (throttle, lifetimes) = (throttle(ctx)?, session_lifetimes(ctx)?);
    let (signer, keys) = (Signer::new(ctx)?, ctx.config.required_mfa_keys()?);
    match mfa::finish_login(
        ctx.store,
        &keys,
        throttle,
        &request.mfa_token,
        &request.code,
        unix_now_secs(),
        &client(ctx),
    )? {
        SecondStep::InvalidToken => Err(ApiError::unauthorized("Invalid or expired token")),
        SecondStep::Locked { retry_after_secs } => {
            Err(ApiError::TooManyRequests { retry_after_secs })
        }
        SecondStep::WrongCode => Err(INVALID_CODE),
        SecondStep::LoggedIn(user) => {
            start_session(ctx, &signer, lifetimes, &user.id, Amr::PasswordAndOtp)
        }
    }
}

fn session_lifetimes(ctx: &Context) -> Result<SessionLifetimes, ApiError> {
    Ok(SessionLifetimes {
        refresh_secs: ctx.config.refresh_token_lifetime_secs()?,
        absolute_timeout_secs: ctx.config.session_absolute_timeout_secs()?,
        event_retention_secs: ctx.config.security_event_retention_secs()?,
    })
}

/// `login_max_failures` within `login_lockout_seconds`.
pub(super) fn throttle(ctx: &Context) -> Result<Throttle, ApiError> {
    Ok(Throttle {
        max_failures: ctx.config.login_max_failures()?,
        window_secs: ctx.config.login_lockout_secs()?,
    })
}

/// Creates the server-side session and answers with the tokens.
fn start_session(
    ctx: &Context,
    signer: &Signer,
    lifetimes: SessionLifetimes,
    user_id: &str,
    amr: Amr,
) -> Result<Response, ApiError> {
    let refresh_token = refresh::generate().map_err(ApiError::internal)?;
    let started = session::start(
        ctx.store,
        user_id,
        &refresh_token,
        amr,
        lifetimes,
        &client(ctx),
    )?;
    signer.login_response(
        &started.identity,
        &refresh_token,
        started.refresh_lifetime_secs as i64,
    )
}

/// `GET|POST /api/auth/refresh`: rotates the refresh token.
pub fn refresh(ctx: &Context) -> Result<Response, ApiError> {
    let credential = credentials::refresh_token(ctx.request)
        .ok_or(ApiError::unauthorized("Please provide refresh token"))?;
    check_csrf(ctx, credential.source)?;
    // An access token is no refresh token; refused before any setting is read.
    if looks_like_jwt(&credential.token) {
        return Err(COULD_NOT_REFRESH);
    }
    let policy = RefreshPolicy {
        lifetime_secs: ctx.config.refresh_token_lifetime_secs()?,
        reuse_grace_secs: ctx.config.refresh_reuse_grace_secs()?,
    };
    let signer = Signer::new(ctx)?;
    let next_token = refresh::generate().map_err(ApiError::internal)?;
    match rotation::refresh(
        ctx.store,
        &credential.token,
        &next_token,
        policy,
        &client(ctx),
    )? {
        RefreshOutcome::Rotated {
            session,
            refresh_lifetime_secs,
        } => {
            let mut response = signer.access_response(&session)?;
            signer.set_refresh_cookie(&mut response, &next_token, refresh_lifetime_secs);
            Ok(response)
        }
        // The refresh cookie the winner of the race set stays.
        RefreshOutcome::Grace { session } => signer.access_response(&session),
        RefreshOutcome::Reused { .. } | RefreshOutcome::Refused(Refusal::CouldNotRefresh) => {
            Err(COULD_NOT_REFRESH)
        }
        RefreshOutcome::Refused(Refusal::UserGone) => {
            Err(ApiError::invalid_token(USER_GONE_FOR_REFRESH))
        }
    }
}

/// `GET|POST /api/auth/logout`: revokes the session of the access token, or
/// of the refresh token when the access token is missing or expired.
pub fn logout(ctx: &Context) -> Result<Response, ApiError> {
    let credentials = credentials::logout_credentials(ctx.request)
        .ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    check_csrf(ctx, credentials.source)?;
    let identity = match &credentials.access {
        Some(token) => verify_access(ctx, token)?,
        None => None,
    };
    // Read before the session is revoked: a malformed setting changes nothing.
    let secure = ctx.config.cookie_secure()?;
    if !session::log_out(
        ctx.store,
        identity.as_ref(),
        credentials.refresh.as_deref(),
        &client(ctx),
    )? {
        return Err(ApiError::invalid_token(NOT_LOGGED_IN));
    }
    Ok(cookies_cleared(secure))
}

/// `POST /api/auth/logout-all`: revokes every session of the user.
pub fn logout_all(ctx: &Context) -> Result<Response, ApiError> {
    let credential =
        credentials::access_token(ctx.request).ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    check_csrf(ctx, credential.source)?;
    let identity =
        verify_access(ctx, &credential.token)?.ok_or(ApiError::invalid_token(NOT_LOGGED_IN))?;
    let secure = ctx.config.cookie_secure()?;
    if !session::log_out_everywhere(ctx.store, &identity, &client(ctx))? {
        return Err(ApiError::invalid_token(NOT_LOGGED_IN));
    }
    Ok(cookies_cleared(secure))
}

/// `200 {"status": "success"}` clearing all three cookies (`secure`: their
/// `Secure` attribute, read before the change it answers is made).
pub(super) fn cookies_cleared(secure: bool) -> Response {
    let mut response = success();
    for cookie in expired_token_cookies(secure) {
        response.add_cookie(&cookie);
    }
    response
}
