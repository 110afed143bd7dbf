//! What a user sees of its own account: `GET /api/users/me/sessions`,
//! `DELETE /api/users/me/sessions/{id}` and `GET /api/users/me/events`.
//! Each looks the caller up as `/me` does (and answers its `401`s).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::caller::{client, signed_in};
use super::query::{all_valid, next_cursor, page_limit, query_error, DEFAULT_PAGE};
use super::{success, Context};
use crate::error::{ApiError, FieldError};
use crate::http::Response;
use crate::json::rfc3339;
use crate::log;
use crate::store::{RevokeReason, SecurityEvent, SessionInfo};

const SESSION_NOT_FOUND: ApiError = ApiError::NotFoundDetail("Session not found");

/// `GET /api/users/me/sessions`: the caller's live sessions, newest first.
pub fn sessions(ctx: &Context) -> Result<Response, ApiError> {
    let (identity, user) = signed_in(ctx)?;
    let sessions: Vec<Value> = ctx
        .store
        .list_sessions(&user.id)?
        .iter()
        .map(|s| session_json(s, s.id == identity.session_id))
        .collect();
    Ok(Response::json(200, &json!({ "sessions": sessions })))
}

/// `DELETE /api/users/me/sessions/{id}`: ends one live session of the
/// caller (its own too); anything else is "not found".
pub fn revoke_session(ctx: &Context) -> Result<Response, ApiError> {
    let (identity, user) = signed_in(ctx)?;
    let session_id = ctx
        .path_param
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or(SESSION_NOT_FOUND)?
        .to_string();
    let client = client(ctx);
    if !ctx.store.revoke_user_session(
        &user.id,
        &session_id,
        RevokeReason::SessionRevoked,
        &client,
    )? {
        return Err(SESSION_NOT_FOUND);
    }
    log::security(&format!(
        "session revoked by its user user_id={} session_id={session_id} by_session_id={} ip={}",
        user.id,
        identity.session_id,
        client.ip.as_deref().unwrap_or("-")
    ));
    Ok(success())
}

/// `GET /api/users/me/events?limit=&cursor=`: newest first, a page at a
/// time; `next_cursor` is `null` on the last page.
pub fn events(ctx: &Context) -> Result<Response, ApiError> {
    // The token's 401s come before the query's 422s, as before a body's.
    let (_, user) = signed_in(ctx)?;
    let limit = page_limit(ctx.request.query_param("limit"));
    let cursor = ctx.request.query_param("cursor").map(|c| decode_cursor(&c));
    all_valid([
        None,
        limit.clone().err(),
        cursor.clone().and_then(Result::err),
    ])?;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    let before = cursor.and_then(Result::ok);
    let retention = ctx.config.security_event_retention_secs()?;
    let mut page = ctx
        .store
        .list_events(&user.id, before, limit + 1, retention)?;
    let next_cursor = next_cursor(&mut page, limit, |last| encode_cursor(last.id));
    let events: Vec<Value> = page.iter().map(event_json).collect();
    Ok(Response::json(
        200,
        &json!({ "events": events, "next_cursor": next_cursor }),
    ))
}

fn session_json(session: &SessionInfo, current: bool) -> Value {
    json!({
        "id": session.id,
        "created_at": rfc3339(session.created_at_us),
        "last_used_at": rfc3339(session.last_used_at_us),
        "expires_at": rfc3339(session.expires_at_us),
        "user_agent": session.user_agent,
        "ip": session.ip,
        "current": current,
    })
}

fn event_json(event: &SecurityEvent) -> Value {
    json!({
        "type": event.kind,
        "at": rfc3339(event.at_us),
        "ip": event.ip,
        "user_agent": event.user_agent,
        "session_id": event.session_id,
    })
}

/// The cursor is the last listed event's id, base64url (opaque to clients).
fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("e{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, FieldError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix('e').and_then(|n| n.parse::<i64>().ok()))
        .filter(|id| *id > 0)
        .ok_or_else(|| query_error("cursor", "value_error", "Invalid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Ok(42));
        for bad in [
            "",
            "not base64!",
            "ZTA",
            "eA",
            &URL_SAFE_NO_PAD.encode("x7"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
