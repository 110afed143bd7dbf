//! The admin use-cases (docs/API.md, Admin): changing, logging out and
//! deleting another user, with the rule that an admin cannot lock itself
//! out, and the listing's opaque cursor. Who is an admin is read from the
//! database on every call (the caller's row), never from the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::log;
use crate::store::{AdminChange, AdminUserInfo, Client, Store, User};

pub const ADMIN_ROLE: &str = "admin";

pub fn is_admin(user: &User) -> bool {
    user.role == ADMIN_ROLE
}

#[derive(Debug, Clone, PartialEq)]
pub enum AdminOutcome<T> {
    NotFound,
    /// The admin would disable, demote or delete itself.
    SelfLockout,
    Done(T),
}

/// Applies `change` to the user `target_id`; disabling revokes its sessions.
pub fn update_user(
    store: &dyn Store,
    admin: &User,
    target_id: &str,
    change: &AdminChange,
    client: &Client,
) -> Result<AdminOutcome<AdminUserInfo>, StoreError> {
    let demotes = change
        .role
        .as_deref()
        .is_some_and(|role| role != ADMIN_ROLE);
    if target_id == admin.id && (demotes || change.disabled == Some(true)) {
        return Ok(AdminOutcome::SelfLockout);
    }
    if store
        .admin_update_user(target_id, change, client)?
        .is_none()
    {
        return Ok(AdminOutcome::NotFound);
    }
    log::security(&format!(
        "admin update user_id={target_id} by_admin={} verified={:?} role={:?} disabled={:?}",
        admin.id, change.verified, change.role, change.disabled
    ));
    Ok(match store.admin_user(target_id)? {
        Some(info) => AdminOutcome::Done(info),
        None => AdminOutcome::NotFound,
    })
}

/// Revokes every session of the user `target_id` (the admin's own too:
/// that locks nobody out); `false` when there is no such user.
pub fn log_out_user(
    store: &dyn Store,
    admin: &User,
    target_id: &str,
    client: &Client,
) -> Result<bool, StoreError> {
    if !store.admin_logout_all(target_id, client)? {
        return Ok(false);
    }
    log::security(&format!(
        "admin logout-all user_id={target_id} by_admin={}",
        admin.id
    ));
    Ok(true)
}

/// Deletes the user `target_id` with what `DELETE /api/users/me` removes.
pub fn delete_user(
    store: &dyn Store,
    admin: &User,
    target_id: &str,
) -> Result<AdminOutcome<()>, StoreError> {
    if target_id == admin.id {
        return Ok(AdminOutcome::SelfLockout);
    }
    if !store.delete_user(target_id)? {
        return Ok(AdminOutcome::NotFound);
    }
    log::security(&format!(
        "admin deleted user_id={target_id} by_admin={}",
        admin.id
    ));
    Ok(AdminOutcome::Done(()))
}

/// The listing's cursor: the last listed user's `(created_at, id)` and a
/// digest of the query it belongs to, base64url (opaque to clients).
pub fn encode_cursor(last: &User, query: Option<&str>) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "u{}.{}.{}",
        last.created_at_us,
        last.id,
        query_tag(query)
    ))
}

/// `None` for anything but a cursor of this query.
pub fn decode_cursor(cursor: &str, query: Option<&str>) -> Option<(i64, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let mut parts = text.strip_prefix('u')?.splitn(3, '.');
    let created_us = parts.next()?.parse::<i64>().ok()?;
    let id = uuid::Uuid::parse_str(parts.next()?).ok()?.to_string();
    (parts.next()? == query_tag(query)).then_some((created_us, id))
}

/// Eight hex digits of the query's SHA-256: a cursor of another query is
/// refused rather than silently paging through the wrong list.
fn query_tag(query: Option<&str>) -> String {
    let digest = Sha256::digest(query.unwrap_or("").as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fake_store::{user, FakeSession, FakeStore};

    fn admin() -> User {
        User {
            role: ADMIN_ROLE.into(),
            ..user("a1", "boss@example.com", "h", true)
        }
    }

    fn store() -> FakeStore {
        let store = FakeStore::with_users(vec![admin(), user("u1", "ada@example.com", "h", true)]);
        store.add_session(FakeSession::new("s1", "u1", vec![1]));
        store
    }

    #[test]
    fn an_admin_cannot_demote_disable_or_delete_itself() {
        let store = store();
        let client = Client::default();
        for change in [
            AdminChange {
                role: Some("user".into()),
                ..AdminChange::default()
            },
            AdminChange {
                disabled: Some(true),
                ..AdminChange::default()
            },
        ] {
            let outcome = update_user(&store, &admin(), "a1", &change, &client).unwrap();
            assert_eq!(outcome, AdminOutcome::SelfLockout);
        }
        assert_eq!(
            delete_user(&store, &admin(), "a1").unwrap(),
            AdminOutcome::SelfLockout
        );
        let verify_self = AdminChange {
            verified: Some(true),
            ..AdminChange::default()
        };
        let outcome = update_user(&store, &admin(), "a1", &verify_self, &client).unwrap();
        assert!(matches!(outcome, AdminOutcome::Done(_)));
    }

    #[test]
    fn disabling_a_user_revokes_its_sessions_and_records_the_event() {
        let store = store();
        let change = AdminChange {
            disabled: Some(true),
            ..AdminChange::default()
        };
        let outcome = update_user(&store, &admin(), "u1", &change, &Client::default()).unwrap();
        let AdminOutcome::Done(info) = outcome else {
            panic!("expected Done, got {outcome:?}");
        };
        assert!(info.user.disabled);
        assert_eq!(info.live_sessions, 0);
        assert!(store.session("s1").revoked.is_some());
        assert_eq!(
            store.events.borrow().last().unwrap().kind.as_str(),
            "admin_update"
        );
        let missing = update_user(&store, &admin(), "nobody", &change, &Client::default());
        assert_eq!(missing.unwrap(), AdminOutcome::NotFound);
    }

    #[test]
    fn a_cursor_belongs_to_its_query() {
        let ada = User {
            id: "0f6a7c1e-2222-4d6a-9a55-000000000002".into(),
            created_at_us: 1_700_000_000_123_456,
            ..user("x", "ada@example.com", "h", true)
        };
        let cursor = encode_cursor(&ada, Some("ada"));
        assert_eq!(
            decode_cursor(&cursor, Some("ada")),
            Some((ada.created_at_us, ada.id.clone()))
        );
        assert_eq!(decode_cursor(&cursor, None), None, "another query");
        for bad in [
            "",
            "!!",
            "dTE",
            &URL_SAFE_NO_PAD.encode("u1.not-a-uuid.00000000"),
        ] {
            assert_eq!(decode_cursor(bad, None), None, "{bad}");
        }
    }
}
