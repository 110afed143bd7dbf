//! `/api/users/*`.

use super::caller::signed_in;
use super::json::user_json;
use super::Context;
use crate::error::ApiError;
use crate::http::Response;

/// `GET /api/users/me`.
pub fn me(ctx: &Context) -> Result<Response, ApiError> {
    let (_, user) = signed_in(ctx)?;
    Ok(Response::json(200, &user_json(&user)))
}
