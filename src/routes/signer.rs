//! The answers that hand out tokens: access tokens signed, and the token
//! cookies set, with the settings read (and the private key parsed) once per
//! request.

use serde_json::json;

use super::Context;
use crate::auth::keys::SigningKey;
use crate::auth::tokens::{issue_access_token, AccessIdentity};
use crate::error::ApiError;
use crate::http::cookies::{access_cookies, refresh_cookie};
use crate::http::Response;

pub struct Signer<'a> {
    ctx: &'a Context<'a>,
    key: SigningKey,
    access_lifetime: u64,
    secure: bool,
}

impl<'a> Signer<'a> {
    pub fn new(ctx: &'a Context<'a>) -> Result<Self, ApiError> {
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
            .map_err(ApiError::internal)
    }

    /// Login's `200 {"status": "success", "access_token"}` with all three
    /// cookies.
    pub fn login_response(
        &self,
        identity: &AccessIdentity,
        refresh_token: &str,
        refresh_lifetime_secs: i64,
    ) -> Result<Response, ApiError> {
        let access_token = self.sign(identity)?;
        let mut response = Response::json(
            200,
            &json!({"status": "success", "access_token": access_token}),
        );
        self.set_access_cookies(&mut response, &access_token);
        self.set_refresh_cookie(&mut response, refresh_token, refresh_lifetime_secs);
        Ok(response)
    }

    /// Refresh's `200 {"access_token"}` with the access and `logged_in`
    /// cookies.
    pub fn access_response(&self, identity: &AccessIdentity) -> Result<Response, ApiError> {
        let access_token = self.sign(identity)?;
        let mut response = Response::json(200, &json!({"access_token": access_token}));
        self.set_access_cookies(&mut response, &access_token);
        Ok(response)
    }

    fn set_access_cookies(&self, response: &mut Response, access_token: &str) {
        for cookie in access_cookies(access_token, self.access_lifetime as i64, self.secure) {
            response.add_cookie(&cookie);
        }
    }

    pub fn set_refresh_cookie(
        &self,
        response: &mut Response,
        refresh_token: &str,
        max_age_secs: i64,
    ) {
        response.add_cookie(&refresh_cookie(refresh_token, max_age_secs, self.secure));
    }
}
