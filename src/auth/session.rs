//! A server-side session's life apart from refresh (`rotation`): started at
//! login, looked up behind every access token, ended by logout.

use super::refresh;
use super::tokens::{AccessIdentity, Amr};
use crate::error::StoreError;
use crate::log;
use crate::store::{Client, NewSession, RevokeReason, Store, User};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionLifetimes {
    /// How long one refresh token lives (`refresh_token_expires_in`).
    pub refresh_secs: u64,
    /// How long the session lives after its login, however often it is
    /// refreshed (`session_absolute_timeout_minutes`).
    pub absolute_timeout_secs: u64,
    /// How long security events are kept (`security_event_retention_days`).
    pub event_retention_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StartedSession {
    pub identity: AccessIdentity,
    pub refresh_lifetime_secs: u64,
}

/// Starts a session for `user_id` whose first refresh token is
/// `refresh_token`, its login authenticated as `amr` says.
pub fn start(
    store: &dyn Store,
    user_id: &str,
    refresh_token: &str,
    amr: Amr,
    lifetimes: SessionLifetimes,
    client: &Client,
) -> Result<StartedSession, StoreError> {
    // A refresh token never outlives its session.
    let refresh_lifetime_secs = lifetimes.refresh_secs.min(lifetimes.absolute_timeout_secs);
    let session_id = uuid::Uuid::new_v4().to_string();
    store.create_session(&NewSession {
        id: session_id.clone(),
        user_id: user_id.to_owned(),
        refresh_digest: refresh::digest(refresh_token),
        refresh_lifetime_secs,
        absolute_timeout_secs: lifetimes.absolute_timeout_secs,
        amr: amr.stored(),
        client: client.clone(),
        event_retention_secs: lifetimes.event_retention_secs,
    })?;
    Ok(StartedSession {
        identity: AccessIdentity {
            user_id: user_id.to_owned(),
            session_id,
            amr,
        },
        refresh_lifetime_secs,
    })
}

/// Who is behind a valid access token, checked against the database.
#[derive(Debug, Clone, PartialEq)]
pub enum CurrentUser {
    Active(User),
    UserGone,
    /// Revoked, or past its absolute timeout.
    SessionEnded,
    Unverified,
}

/// The lookup `/me` makes, with its refusals in the contract's order.
pub fn current_user(
    store: &dyn Store,
    identity: &AccessIdentity,
) -> Result<CurrentUser, StoreError> {
    let found = store.user_with_session(&identity.user_id, &identity.session_id)?;
    Ok(match found.user {
        None => CurrentUser::UserGone,
        // A disabled user's sessions were revoked with it; a session that
        // somehow outlived that ends here.
        Some(user) if !found.session_active || user.disabled => CurrentUser::SessionEnded,
        Some(user) if !user.verified => CurrentUser::Unverified,
        Some(user) => CurrentUser::Active(user),
    })
}

/// Revokes the session a valid access token names, or else the one whose
/// current refresh token is `refresh_token` (an expired access token must
/// not keep a user from logging out). `false` when neither named a live
/// session.
pub fn log_out(
    store: &dyn Store,
    access: Option<&AccessIdentity>,
    refresh_token: Option<&str>,
    client: &Client,
) -> Result<bool, StoreError> {
    if let Some(identity) = access {
        if store.revoke_user_session(
            &identity.user_id,
            &identity.session_id,
            RevokeReason::Logout,
            client,
        )? {
            return Ok(true);
        }
    }
    match refresh_token {
        Some(token) => {
            store.revoke_session_by_refresh(&refresh::digest(token), RevokeReason::Logout, client)
        }
        None => Ok(false),
    }
}

/// Revokes every session of the user, provided the caller's own session is
/// live; `false` when it is not.
pub fn log_out_everywhere(
    store: &dyn Store,
    identity: &AccessIdentity,
    client: &Client,
) -> Result<bool, StoreError> {
    if !store.revoke_all_sessions(&identity.user_id, &identity.session_id, client)? {
        return Ok(false);
    }
    log::security(&format!(
        "all sessions revoked user_id={} session_id={} ip={}",
        identity.user_id,
        identity.session_id,
        client.ip.as_deref().unwrap_or("-")
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fake_store::{user, FakeSession, FakeStore};

    fn identity(session_id: &str) -> AccessIdentity {
        AccessIdentity {
            user_id: "u1".into(),
            session_id: session_id.into(),
            amr: Amr::Password,
        }
    }

    fn store_with_sessions(verified: bool, sessions: &[&str]) -> FakeStore {
        let store = FakeStore::with_users(vec![user("u1", "ada@example.com", "", verified)]);
        for id in sessions {
            store.add_session(FakeSession::new(id, "u1", refresh::digest(id)));
        }
        store
    }

    #[test]
    fn a_new_session_keeps_the_refresh_token_digest_and_never_outlives_its_timeout() {
        let store = FakeStore::default();
        let lifetimes = SessionLifetimes {
            refresh_secs: 3600,
            absolute_timeout_secs: 600,
            event_retention_secs: 86_400,
        };
        let started = start(
            &store,
            "u1",
            "first-token",
            Amr::Password,
            lifetimes,
            &Client::default(),
        )
        .unwrap();
        assert_eq!(started.refresh_lifetime_secs, 600);
        assert_eq!(started.identity.user_id, "u1");
        let stored = store.session(&started.identity.session_id);
        assert_eq!(stored.current, refresh::digest("first-token"));
        assert_eq!(stored.refresh_lifetime_secs, 600);
    }

    #[test]
    fn the_current_user_is_refused_in_the_contract_order() {
        let store = store_with_sessions(true, &["s1"]);
        assert!(matches!(
            current_user(&store, &identity("s1")).unwrap(),
            CurrentUser::Active(user) if user.id == "u1"
        ));
        assert_eq!(
            current_user(&store, &identity("ended")).unwrap(),
            CurrentUser::SessionEnded
        );
        let gone = AccessIdentity {
            user_id: "deleted".into(),
            session_id: "ended".into(),
            amr: Amr::Password,
        };
        assert_eq!(current_user(&store, &gone).unwrap(), CurrentUser::UserGone);
        let unverified = store_with_sessions(false, &["s1"]);
        assert_eq!(
            current_user(&unverified, &identity("s1")).unwrap(),
            CurrentUser::Unverified
        );
    }

    #[test]
    fn logout_revokes_the_access_tokens_session_first() {
        let store = store_with_sessions(true, &["s1", "s2"]);
        assert!(log_out(
            &store,
            Some(&identity("s1")),
            Some("s2"),
            &Client::default()
        )
        .unwrap());
        assert_eq!(store.session("s1").revoked, Some(RevokeReason::Logout));
        assert_eq!(store.session("s2").revoked, None);
    }

    #[test]
    fn logout_falls_back_to_the_refresh_token_when_the_access_token_names_no_live_session() {
        let store = store_with_sessions(true, &["s2"]);
        assert!(log_out(
            &store,
            Some(&identity("ended")),
            Some("s2"),
            &Client::default()
        )
        .unwrap());
        assert_eq!(store.session("s2").revoked, Some(RevokeReason::Logout));
        assert!(
            !log_out(&store, None, Some("s2"), &Client::default()).unwrap(),
            "already revoked"
        );
        assert!(!log_out(&store, None, None, &Client::default()).unwrap());
    }

    #[test]
    fn logout_everywhere_needs_a_live_session_and_revokes_them_all() {
        let store = store_with_sessions(true, &["s1", "s2"]);
        assert!(!log_out_everywhere(&store, &identity("ended"), &Client::default()).unwrap());
        assert_eq!(store.session("s2").revoked, None);
        assert!(log_out_everywhere(&store, &identity("s1"), &Client::default()).unwrap());
        for id in ["s1", "s2"] {
            assert_eq!(store.session(id).revoked, Some(RevokeReason::LogoutAll));
        }
    }
}
