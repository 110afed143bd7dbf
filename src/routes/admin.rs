//! `/api/admin/users…`: find, change, log out and delete users. Every
//! route looks the caller up as `/me` does (its `401`s) and then requires
//! its role in the database to be `admin` (`403`), so a demoted admin's
//! token stops working at once.

use serde_json::{json, Value};

use super::caller::{client, signed_in};
use super::query::{all_valid, next_cursor, page_limit, query_error, DEFAULT_PAGE};
use super::{success, Context};
use crate::auth::admin::{self, AdminOutcome};
use crate::auth::validation::AdminUpdateRequest;
use crate::error::ApiError;
use crate::http::body::json_object;
use crate::http::Response;
use crate::json::user_json;
use crate::store::{AdminChange, AdminUserInfo, User, UserPage};

const USER_NOT_FOUND: ApiError = ApiError::NotFoundDetail("User not found");
const SELF_LOCKOUT: ApiError = ApiError::BadRequest("Admins cannot disable or demote themselves");
/// `q`'s longest accepted value (an email's).
const MAX_QUERY_CHARS: usize = 254;

/// The caller, who must be an admin.
fn signed_in_admin(ctx: &Context) -> Result<User, ApiError> {
    let (_, user) = signed_in(ctx)?;
    if !admin::is_admin(&user) {
        return Err(ApiError::Forbidden("Admin privileges required"));
    }
    Ok(user)
}

/// The `{id}` of the path, a UUID; anything else is a user not found.
fn target_id(ctx: &Context) -> Result<String, ApiError> {
    ctx.path_param
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .map(|id| id.to_string())
        .ok_or(USER_NOT_FOUND)
}

/// `GET /api/admin/users?q=&limit=&cursor=`: oldest first, a page at a time.
pub fn list_users(ctx: &Context) -> Result<Response, ApiError> {
    signed_in_admin(ctx)?;
    let query = ctx.request.query_param("q").filter(|q| !q.is_empty());
    let query_check = match &query {
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => Err(query_error(
            "q",
            "string_too_long",
            "String should have at most 254 characters",
        )),
        _ => Ok(()),
    };
    let limit = page_limit(ctx.request.query_param("limit"));
    let cursor = ctx.request.query_param("cursor").map(|c| {
        admin::decode_cursor(&c, query.as_deref())
            .ok_or_else(|| query_error("cursor", "value_error", "Invalid cursor"))
    });
    all_valid([
        query_check.err(),
        limit.clone().err(),
        cursor.clone().and_then(Result::err),
    ])?;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    let mut users = ctx.store.list_users(&UserPage {
        query: query.as_deref(),
        after: cursor.and_then(Result::ok),
        limit: limit + 1,
    })?;
    let next_cursor = next_cursor(&mut users, limit, |last| {
        admin::encode_cursor(last, query.as_deref())
    });
    let users: Vec<Value> = users.iter().map(listed_user_json).collect();
    Ok(Response::json(
        200,
        &json!({"users": users, "next_cursor": next_cursor}),
    ))
}

/// `GET /api/admin/users/{id}`.
pub fn get_user(ctx: &Context) -> Result<Response, ApiError> {
    signed_in_admin(ctx)?;
    let info = ctx
        .store
        .admin_user(&target_id(ctx)?)?
        .ok_or(USER_NOT_FOUND)?;
    Ok(Response::json(200, &detailed_user_json(&info)))
}

/// `PATCH /api/admin/users/{id}`: `verified`, `role`, `disabled`.
pub fn update_user(ctx: &Context) -> Result<Response, ApiError> {
    let caller = signed_in_admin(ctx)?;
    let body = AdminUpdateRequest::from_json(&json_object(ctx.request)?)?;
    let change = AdminChange {
        verified: body.verified,
        role: body.role,
        disabled: body.disabled,
    };
    match admin::update_user(ctx.store, &caller, &target_id(ctx)?, &change, &client(ctx))? {
        AdminOutcome::Done(info) => Ok(Response::json(200, &detailed_user_json(&info))),
        AdminOutcome::NotFound => Err(USER_NOT_FOUND),
        AdminOutcome::SelfLockout => Err(SELF_LOCKOUT),
    }
}

/// `POST /api/admin/users/{id}/logout-all`.
pub fn log_out_user(ctx: &Context) -> Result<Response, ApiError> {
    let caller = signed_in_admin(ctx)?;
    match admin::log_out_user(ctx.store, &caller, &target_id(ctx)?, &client(ctx))? {
        true => Ok(success()),
        false => Err(USER_NOT_FOUND),
    }
}

/// `DELETE /api/admin/users/{id}`: the caller's cookies are untouched.
pub fn delete_user(ctx: &Context) -> Result<Response, ApiError> {
    let caller = signed_in_admin(ctx)?;
    match admin::delete_user(ctx.store, &caller, &target_id(ctx)?)? {
        AdminOutcome::Done(()) => Ok(success()),
        AdminOutcome::NotFound => Err(USER_NOT_FOUND),
        AdminOutcome::SelfLockout => Err(SELF_LOCKOUT),
    }
}

/// The user object plus `disabled` (the listing's shape).
fn listed_user_json(user: &User) -> Value {
    let mut value = user_json(user);
    value["disabled"] = json!(user.disabled);
    value
}

/// The listing's shape plus `mfa_enabled` and the live-session count.
fn detailed_user_json(info: &AdminUserInfo) -> Value {
    let mut value = listed_user_json(&info.user);
    value["mfa_enabled"] = json!(info.mfa_enabled);
    value["sessions"] = json!(info.live_sessions);
    value
}
