//! `/api/auth/*`: register, login, refresh, logout, logout-all.

use serde_json::json;

use super::users::user_json;
use super::Context;
use crate::auth::passwords;
use crate::auth::refresh::{self, looks_like_jwt};
use crate::auth::tokens::{issue_access_token, verify_access_token, AccessIdentity};
use crate::auth::validation::{LoginRequest, RegisterRequest};
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::cookies::SetCookie;
use crate::http::{cors, Request, Response};
use crate::log;
use crate::store::{NewSession, NewUser, RevokeReason, Throttle};

const COULD_NOT_REFRESH: ApiError = ApiError::Unauthorized {
    detail: "Could not refresh access token",
    token_presented: true,
};
const NOT_LOGGED_IN: &str = "You are not logged in";
const USER_GONE_FOR_REFRESH: &str = "The user belonging to this token no longer exist";

/// Where a credential came from. Only cookie credentials are subject to
/// the CSRF rules: a page on another site cannot set `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Bearer,
    Cookie,
}

/// `POST /api/auth/register`.
pub fn register(ctx: &Context) -> Result<Response, ApiError> {
    let request = RegisterRequest::from_json(&json_object(ctx.request)?)?;
    if request.password != request.password_confirm {
        return Err(ApiError::BadRequest("Passwords do not match"));
    }
    let password_hash = passwords::hash(&request.password).map_err(unavailable)?;
    let user = ctx.store.insert_user(&NewUser {
        name: request.name,
        email: request.email,
        password_hash,
        photo: request.photo,
    })?;
    Ok(Response::json(201, &user_json(&user)))
}

/// `POST /api/auth/login`.
pub fn login(ctx: &Context) -> Result<Response, ApiError> {
    let request = LoginRequest::from_json(&json_object(ctx.request)?)?;
    let throttle = Throttle {
        max_failures: ctx.config.login_max_failures()?,
        window_secs: ctx.config.login_lockout_secs()?,
    };
    let attempt = ctx.store.begin_login_attempt(&request.email, throttle)?;
    if let Some(retry_after_secs) = attempt.locked_for_secs {
        log::security("login refused: too many failed attempts for this account");
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let password_matches = match &attempt.user {
        Some(user) => passwords::verify(&request.password, &user.password_hash),
        None => {
            passwords::verify_dummy(&request.password);
            false
        }
    };
    // The attempt was counted as a failure up front; a success takes it back.
    let Some(user) = attempt.user.filter(|_| password_matches) else {
        return Err(ApiError::BadRequest("Incorrect Email or Password"));
    };
    ctx.store.clear_login_attempts(&request.email)?;
    if !user.verified {
        return Err(ApiError::unauthorized("Please verify your email address"));
    }
    if passwords::needs_rehash(&user.password_hash) {
        upgrade_password_hash(ctx, &user.id, &request.password);
    }
    start_session(ctx, &user.id)
}

/// Replaces a hash made with older parameters. A failure here must not fail
/// the login: the old hash still works, and the next login tries again.
fn upgrade_password_hash(ctx: &Context, user_id: &str, password: &str) {
    let result = passwords::hash(password)
        .map_err(|e| e.to_string())
        .and_then(|hash| {
            ctx.store
                .update_password_hash(user_id, &hash)
                .map_err(|e| format!("{e:?}"))
        });
    if let Err(problem) = result {
        log::warn(&format!(
            "password hash upgrade skipped for user {user_id}: {problem}"
        ));
    }
}

/// Creates the server-side session and answers with the tokens.
fn start_session(ctx: &Context, user_id: &str) -> Result<Response, ApiError> {
    let config = ctx.config;
    let refresh_lifetime = config
        .refresh_token_lifetime_secs()?
        .min(config.session_absolute_timeout_secs()?);
    let signer = Signer::new(ctx)?;
    let refresh_token = refresh::generate().map_err(unavailable)?;
    let session_id = uuid::Uuid::new_v4().to_string();
    ctx.store.create_session(&NewSession {
        id: session_id.clone(),
        user_id: user_id.to_owned(),
        refresh_digest: refresh::digest(&refresh_token),
        refresh_lifetime_secs: refresh_lifetime,
        absolute_timeout_secs: config.session_absolute_timeout_secs()?,
    })?;
    let identity = AccessIdentity {
        user_id: user_id.to_owned(),
        session_id,
    };
    let access_token = signer.sign(&identity)?;
    let mut response = Response::json(
        200,
        &json!({"status": "success", "access_token": access_token}),
    );
    signer.set_access_cookies(&mut response, &access_token);
    signer.set_refresh_cookie(&mut response, &refresh_token, refresh_lifetime as i64);
    Ok(response)
}

/// `GET|POST /api/auth/refresh`: rotates the refresh token.
pub fn refresh(ctx: &Context) -> Result<Response, ApiError> {
    let (credential, source) = refresh_credential(ctx.request)
        .ok_or(ApiError::unauthorized("Please provide refresh token"))?;
    check_csrf(ctx, source)?;
    if looks_like_jwt(&credential) {
        return Err(COULD_NOT_REFRESH);
    }
    let lifetime = ctx.config.refresh_token_lifetime_secs()?;
    let grace_ms = ctx.config.refresh_reuse_grace_secs()? as i64 * 1000;
    let signer = Signer::new(ctx)?;
    let presented = refresh::digest(&credential);
    let next_token = refresh::generate().map_err(unavailable)?;

    if let Some(rotation) =
        ctx.store
            .rotate_refresh_token(&presented, &refresh::digest(&next_token), lifetime)?
    {
        rotation
            .user
            .as_ref()
            .ok_or(ApiError::invalid_token(USER_GONE_FOR_REFRESH))?;
        let identity = AccessIdentity {
            user_id: rotation.user_id,
            session_id: rotation.session_id,
        };
        let mut response = signer.access_response(&identity)?;
        signer.set_refresh_cookie(&mut response, &next_token, rotation.refresh_lifetime_secs);
        return Ok(response);
    }

    // Not rotated: an unknown token, the current token of a session that
    // ended or whose user is gone, or one already rotated away (reuse).
    let Some(known) = ctx.store.find_refresh_token(&presented)? else {
        return Err(COULD_NOT_REFRESH);
    };
    let Some(retired_ms_ago) = known.retired_ms_ago else {
        return Err(match known.user {
            None => ApiError::invalid_token(USER_GONE_FOR_REFRESH),
            Some(_) => COULD_NOT_REFRESH,
        });
    };
    if known.session_active && retired_ms_ago < grace_ms {
        // A concurrent refresh won the race moments ago: answer with an
        // access token and leave the refresh cookie the winner set.
        known
            .user
            .as_ref()
            .ok_or(ApiError::invalid_token(USER_GONE_FOR_REFRESH))?;
        let identity = AccessIdentity {
            user_id: known.user_id,
            session_id: known.session_id,
        };
        return signer.access_response(&identity);
    }
    if known.session_active {
        ctx.store
            .revoke_known_session(&known.session_id, RevokeReason::RefreshTokenReuse)?;
        log::security(&format!(
            "refresh token reuse: session revoked user_id={} session_id={}",
            known.user_id, known.session_id
        ));
    }
    Err(COULD_NOT_REFRESH)
}

/// `GET|POST /api/auth/logout`: revokes the session of the access token, or
/// of the refresh token when the access token is missing or expired.
pub fn logout(ctx: &Context) -> Result<Response, ApiError> {
    let credentials = logout_credentials(ctx.request);
    let Some(source) = credentials.source else {
        return Err(ApiError::unauthorized(NOT_LOGGED_IN));
    };
    check_csrf(ctx, source)?;
    let mut revoked = false;
    if let Some(token) = &credentials.access {
        if let Some(identity) = verify_access(ctx, token)? {
            revoked = ctx.store.revoke_user_session(
                &identity.user_id,
                &identity.session_id,
                RevokeReason::Logout,
            )?;
        }
    }
    if let (false, Some(token)) = (revoked, &credentials.refresh) {
        revoked = ctx
            .store
            .revoke_session_by_refresh(&refresh::digest(token), RevokeReason::Logout)?;
    }
    if !revoked {
        return Err(ApiError::invalid_token(NOT_LOGGED_IN));
    }
    logged_out(ctx)
}

/// `POST /api/auth/logout-all`: revokes every session of the user.
pub fn logout_all(ctx: &Context) -> Result<Response, ApiError> {
    let (token, source) =
        access_credential(ctx.request).ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    check_csrf(ctx, source)?;
    let identity = verify_access(ctx, &token)?.ok_or(ApiError::invalid_token(NOT_LOGGED_IN))?;
    if !ctx
        .store
        .revoke_all_sessions(&identity.user_id, &identity.session_id)?
    {
        return Err(ApiError::invalid_token(NOT_LOGGED_IN));
    }
    log::security(&format!(
        "all sessions revoked user_id={}",
        identity.user_id
    ));
    logged_out(ctx)
}

/// `200 {"status": "success"}` clearing all three cookies.
fn logged_out(ctx: &Context) -> Result<Response, ApiError> {
    let secure = ctx.config.cookie_secure()?;
    let mut response = Response::json(200, &json!({"status": "success"}));
    for cookie in [
        SetCookie::expired("access_token", "/", true, secure),
        SetCookie::expired("refresh_token", "/api/auth", true, secure),
        // The contract gives `logged_in` no `Secure` (the tutorial's cookie).
        SetCookie::expired("logged_in", "/", false, false),
    ] {
        response.add_header("set-cookie", &cookie.render());
    }
    Ok(response)
}

/// Verifies the request's access token (Bearer first, else the cookie).
pub fn authenticate(ctx: &Context) -> Result<AccessIdentity, ApiError> {
    let (token, _) = access_credential(ctx.request).ok_or(ApiError::unauthorized(NOT_LOGGED_IN))?;
    verify_access(ctx, &token)?.ok_or(ApiError::invalid_token("Token is invalid or has expired"))
}

/// `Ok(None)` when the token is refused; `Err` when a setting or key is
/// broken (a `503`, not the client's fault).
fn verify_access(ctx: &Context, token: &str) -> Result<Option<AccessIdentity>, ApiError> {
    let config = ctx.config;
    let (algorithm, keys, audience) = (
        config.algorithm()?,
        config.verifying_keys()?,
        config.audience()?,
    );
    Ok(verify_access_token(token, algorithm, keys, &audience).ok())
}

fn check_csrf(ctx: &Context, source: Source) -> Result<(), ApiError> {
    match source {
        Source::Bearer => Ok(()),
        Source::Cookie => cors::check_cookie_request(ctx.request, &ctx.config.client_origins()),
    }
}

/// When `Authorization: Bearer` is present it is the credential and cookies
/// are ignored (fastapi-jwt-auth's rule).
fn access_credential(request: &Request) -> Option<(String, Source)> {
    if request.has_bearer_header() {
        return request
            .bearer_token()
            .map(|t| (t.to_owned(), Source::Bearer));
    }
    non_empty_cookie(request, "access_token").map(|t| (t, Source::Cookie))
}

fn refresh_credential(request: &Request) -> Option<(String, Source)> {
    if request.has_bearer_header() {
        return request
            .bearer_token()
            .map(|t| (t.to_owned(), Source::Bearer));
    }
    non_empty_cookie(request, "refresh_token").map(|t| (t, Source::Cookie))
}

fn non_empty_cookie(request: &Request, name: &str) -> Option<String> {
    request.cookie(name).filter(|v| !v.is_empty())
}

#[derive(Default)]
struct LogoutCredentials {
    access: Option<String>,
    refresh: Option<String>,
    source: Option<Source>,
}

/// Logout takes an access token or a refresh token. A Bearer value that is
/// not shaped like a JWT is a refresh token.
fn logout_credentials(request: &Request) -> LogoutCredentials {
    if request.has_bearer_header() {
        let Some(token) = request.bearer_token() else {
            return LogoutCredentials::default();
        };
        let (access, refresh) = if looks_like_jwt(token) {
            (Some(token.to_owned()), None)
        } else {
            (None, Some(token.to_owned()))
        };
        return LogoutCredentials {
            access,
            refresh,
            source: Some(Source::Bearer),
        };
    }
    let access = non_empty_cookie(request, "access_token");
    let refresh = non_empty_cookie(request, "refresh_token");
    let source = (access.is_some() || refresh.is_some()).then_some(Source::Cookie);
    LogoutCredentials {
        access,
        refresh,
        source,
    }
}

/// Signs access tokens and writes the token cookies, with the settings
/// read (and the private key parsed) once per request.
struct Signer<'a> {
    ctx: &'a Context<'a>,
    key: crate::auth::keys::SigningKey,
    access_lifetime: u64,
    secure: bool,
}

impl<'a> Signer<'a> {
    fn new(ctx: &'a Context<'a>) -> Result<Self, ApiError> {
        Ok(Signer {
            ctx,
            key: ctx.config.signing_key()?,
            access_lifetime: ctx.config.access_token_lifetime_secs()?,
            secure: ctx.config.cookie_secure()?,
        })
    }

    fn sign(&self, identity: &AccessIdentity) -> Result<String, ApiError> {
        let audience = self.ctx.config.audience()?;
        issue_access_token(&self.key, identity, self.access_lifetime, &audience)
            .map_err(unavailable)
    }

    /// `200 {"access_token"}` with the access and `logged_in` cookies.
    fn access_response(&self, identity: &AccessIdentity) -> Result<Response, ApiError> {
        let access_token = self.sign(identity)?;
        let mut response = Response::json(200, &json!({"access_token": access_token}));
        self.set_access_cookies(&mut response, &access_token);
        Ok(response)
    }

    fn set_access_cookies(&self, response: &mut Response, access_token: &str) {
        let max_age = self.access_lifetime as i64;
        let access = SetCookie {
            name: "access_token",
            value: access_token.to_owned(),
            max_age_secs: max_age,
            path: "/",
            http_only: true,
            secure: self.secure,
        };
        // Readable by scripts, and without `Secure` as the contract lists it.
        let logged_in = SetCookie {
            name: "logged_in",
            value: "True".into(),
            http_only: false,
            secure: false,
            ..access.clone()
        };
        response.add_header("set-cookie", &access.render());
        response.add_header("set-cookie", &logged_in.render());
    }

    fn set_refresh_cookie(&self, response: &mut Response, refresh_token: &str, max_age_secs: i64) {
        let cookie = SetCookie {
            name: "refresh_token",
            value: refresh_token.to_owned(),
            max_age_secs,
            path: "/api/auth",
            http_only: true,
            secure: self.secure,
        };
        response.add_header("set-cookie", &cookie.render());
    }
}

/// An internal failure (no randomness, a signing error): logged, `503`.
fn unavailable(error: anyhow::Error) -> ApiError {
    log::error(&format!("internal failure: {error:#}"));
    ApiError::Unavailable
}
