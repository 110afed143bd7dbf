//! `/api/users/*`.

use super::caller::{authenticate, TOKEN_INVALID};
use super::json::user_json;
use super::Context;
use crate::auth::session::{self, CurrentUser};
use crate::error::ApiError;
use crate::http::Response;

/// `GET /api/users/me`.
pub fn me(ctx: &Context) -> Result<Response, ApiError> {
    let identity = authenticate(ctx)?;
    match session::current_user(ctx.store, &identity)? {
        CurrentUser::Active(user) => Ok(Response::json(200, &user_json(&user))),
        CurrentUser::UserGone => Err(ApiError::invalid_token("User no longer exist")),
        CurrentUser::SessionEnded => Err(ApiError::invalid_token(TOKEN_INVALID)),
        CurrentUser::Unverified => Err(ApiError::invalid_token("Please verify your account")),
    }
}
