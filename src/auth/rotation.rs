//! Refreshing a session (docs/API.md, `/api/auth/refresh`): a current refresh
//! token is rotated; a retired one is either a lost race inside the grace
//! window or a reuse, which revokes the session (a stolen token and its
//! owner cannot both go on refreshing).

use super::refresh;
use super::tokens::{AccessIdentity, Amr};
use crate::error::StoreError;
use crate::log;
use crate::store::{Client, RevokeReason, Store};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshPolicy {
    /// How long the next refresh token lives (before the session's cap).
    pub lifetime_secs: u64,
    /// `refresh_reuse_grace_seconds`; 0 is strict.
    pub reuse_grace_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The token was current: the next one replaces it.
    Rotated {
        session: AccessIdentity,
        /// Seconds the next token lives (capped by the absolute timeout).
        refresh_lifetime_secs: i64,
    },
    /// Retired moments ago by a concurrent refresh that won the race: an
    /// access token, but no new refresh token (the winner's stands).
    Grace {
        session: AccessIdentity,
    },
    /// Retired outside the grace window while its session was live: the
    /// session has been revoked.
    Reused {
        session: AccessIdentity,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Unknown, or its session ended.
    CouldNotRefresh,
    /// The user it belongs to no longer exists.
    UserGone,
}

/// Refreshes with the `presented` token; `next` is the token that replaces
/// it if it is current.
pub fn refresh(
    store: &dyn Store,
    presented: &str,
    next: &str,
    policy: RefreshPolicy,
    client: &Client,
) -> Result<RefreshOutcome, StoreError> {
    let presented = refresh::digest(presented);
    if let Some(rotation) =
        store.rotate_refresh_token(&presented, &refresh::digest(next), policy.lifetime_secs)?
    {
        if rotation.user.is_none() {
            return Ok(RefreshOutcome::Refused(Refusal::UserGone));
        }
        return Ok(RefreshOutcome::Rotated {
            session: AccessIdentity {
                user_id: rotation.user_id,
                session_id: rotation.session_id,
                amr: Amr::from_stored(&rotation.amr),
            },
            refresh_lifetime_secs: rotation.refresh_lifetime_secs,
        });
    }

    // Not rotated: an unknown token, the current token of a session that
    // ended or whose user is gone, or one already rotated away.
    let Some(known) = store.find_refresh_token(&presented)? else {
        return Ok(RefreshOutcome::Refused(Refusal::CouldNotRefresh));
    };
    let user_gone = known.user.is_none();
    // The store rotates only for verified users who are not disabled; a
    // retired token of any other gets nothing in the grace window either.
    let unverified = known
        .user
        .as_ref()
        .is_some_and(|user| !user.verified || user.disabled);
    let Some(retired_ms_ago) = known.retired_ms_ago else {
        let refusal = if user_gone {
            Refusal::UserGone
        } else {
            Refusal::CouldNotRefresh
        };
        return Ok(RefreshOutcome::Refused(refusal));
    };
    if !known.session_active {
        // A retired token of an ended session: nothing left to revoke.
        return Ok(RefreshOutcome::Refused(Refusal::CouldNotRefresh));
    }
    let session = AccessIdentity {
        user_id: known.user_id,
        session_id: known.session_id,
        amr: Amr::from_stored(&known.amr),
    };
    let grace_ms = policy.reuse_grace_secs as i64 * 1000;
    if retired_ms_ago < grace_ms {
        return Ok(if user_gone {
            RefreshOutcome::Refused(Refusal::UserGone)
        } else if unverified {
            RefreshOutcome::Refused(Refusal::CouldNotRefresh)
        } else {
            RefreshOutcome::Grace { session }
        });
    }
    store.revoke_known_session(&session.session_id, RevokeReason::RefreshTokenReuse, client)?;
    log::security(&format!(
        "refresh token reuse: session revoked user_id={} session_id={} ip={}",
        session.user_id,
        session.session_id,
        client.ip.as_deref().unwrap_or("-")
    ));
    Ok(RefreshOutcome::Reused { session })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fake_store::{user, FakeSession, FakeStore};

    const STRICT: RefreshPolicy = RefreshPolicy {
        lifetime_secs: 3600,
        reuse_grace_secs: 0,
    };
    const TEN_SECONDS_GRACE: RefreshPolicy = RefreshPolicy {
        lifetime_secs: 3600,
        reuse_grace_secs: 10,
    };

    fn session_identity() -> AccessIdentity {
        AccessIdentity {
            user_id: "u1".into(),
            session_id: "s1".into(),
            amr: Amr::Password,
        }
    }

    /// Session `s1` of user `u1`: current token "current", and "retired"
    /// rotated away `retired_ms_ago`.
    fn store_with_session(user_exists: bool, retired_ms_ago: i64) -> FakeStore {
        let users = if user_exists {
            vec![user("u1", "ada@example.com", "", true)]
        } else {
            Vec::new()
        };
        let store = FakeStore::with_users(users);
        let mut session = FakeSession::new("s1", "u1", refresh::digest("current"));
        session.retired = vec![(refresh::digest("retired"), retired_ms_ago)];
        store.add_session(session);
        store
    }

    fn refresh_with(store: &FakeStore, token: &str, policy: RefreshPolicy) -> RefreshOutcome {
        refresh(store, token, "next", policy, &Client::default()).unwrap()
    }

    #[test]
    fn a_current_token_is_rotated_to_the_next_one() {
        let store = store_with_session(true, 60_000);
        assert_eq!(
            refresh_with(&store, "current", STRICT),
            RefreshOutcome::Rotated {
                session: session_identity(),
                refresh_lifetime_secs: 3600,
            }
        );
        let session = store.session("s1");
        assert_eq!(session.current, refresh::digest("next"));
        assert!(session.retired.contains(&(refresh::digest("current"), 0)));
    }

    #[test]
    fn a_token_retired_inside_the_grace_window_gets_grace_and_no_new_refresh_token() {
        let store = store_with_session(true, 2_000);
        assert_eq!(
            refresh_with(&store, "retired", TEN_SECONDS_GRACE),
            RefreshOutcome::Grace {
                session: session_identity()
            }
        );
        let session = store.session("s1");
        assert_eq!(
            session.current,
            refresh::digest("current"),
            "the winner's token stands"
        );
        assert_eq!(session.revoked, None);
    }

    #[test]
    fn a_token_retired_outside_the_grace_window_is_reuse_and_revokes_the_session() {
        let store = store_with_session(true, 10_000);
        assert_eq!(
            refresh_with(&store, "retired", TEN_SECONDS_GRACE),
            RefreshOutcome::Reused {
                session: session_identity()
            }
        );
        assert_eq!(
            store.session("s1").revoked,
            Some(RevokeReason::RefreshTokenReuse)
        );
        assert_eq!(
            refresh_with(&store, "current", STRICT),
            RefreshOutcome::Refused(Refusal::CouldNotRefresh),
            "the current token died with its session"
        );
    }

    #[test]
    fn with_no_grace_a_token_retired_this_very_millisecond_is_reuse() {
        let store = store_with_session(true, 0);
        assert!(matches!(
            refresh_with(&store, "retired", STRICT),
            RefreshOutcome::Reused { .. }
        ));
    }

    #[test]
    fn a_retired_token_of_an_ended_session_is_refused_without_a_second_revocation() {
        let store = store_with_session(true, 60_000);
        store
            .revoke_known_session("s1", RevokeReason::Logout, &Client::default())
            .unwrap();
        assert_eq!(
            refresh_with(&store, "retired", STRICT),
            RefreshOutcome::Refused(Refusal::CouldNotRefresh)
        );
        assert_eq!(store.session("s1").revoked, Some(RevokeReason::Logout));
    }

    #[test]
    fn a_deleted_users_token_is_refused_as_user_gone() {
        let store = store_with_session(false, 2_000);
        for (token, policy) in [("current", STRICT), ("retired", TEN_SECONDS_GRACE)] {
            assert_eq!(
                refresh_with(&store, token, policy),
                RefreshOutcome::Refused(Refusal::UserGone),
                "{token}"
            );
        }
    }

    #[test]
    fn the_current_token_of_an_ended_session_is_refused_as_user_gone_only_when_the_user_is() {
        for (user_exists, refusal) in [(true, Refusal::CouldNotRefresh), (false, Refusal::UserGone)]
        {
            let store = store_with_session(user_exists, 60_000);
            store
                .revoke_known_session("s1", RevokeReason::Logout, &Client::default())
                .unwrap();
            assert_eq!(
                refresh_with(&store, "current", STRICT),
                RefreshOutcome::Refused(refusal)
            );
        }
    }

    #[test]
    fn an_unknown_token_is_refused() {
        let store = store_with_session(true, 60_000);
        assert_eq!(
            refresh_with(&store, "never issued", STRICT),
            RefreshOutcome::Refused(Refusal::CouldNotRefresh)
        );
        assert_eq!(store.session("s1").revoked, None);
    }
}
