//! Logging in with email and password (docs/API.md, `POST /api/auth/login`): the
//! throttle, the password check that costs the same for unknown emails, and
//! the upgrade of old password hashes. Starting the session is the
//! caller's next step (`session::start`).

use super::passwords;
use crate::error::StoreError;
use crate::log;
use crate::store::{Client, EventKind, NewEvent, Store, Throttle, User};

#[derive(Debug, Clone, PartialEq)]
pub enum LoginOutcome {
    /// The email is locked; the attempt was refused before any password
    /// check and was not counted.
    Locked {
        retry_after_secs: u64,
    },
    /// Unknown email or wrong password: one answer for both, so it tells
    /// nothing about which emails exist. Counted as a failure.
    WrongCredentials,
    /// The password checked out but an admin disabled the account.
    Disabled,
    /// The password checked out but the email is not verified yet.
    Unverified,
    /// The password checked out and two-factor is on: the code comes next
    /// (`mfa::start_second_step`). Nothing was cleared.
    MfaRequired(User),
    LoggedIn(User),
}

pub fn login(
    store: &dyn Store,
    throttle: Throttle,
    email: &str,
    password: &str,
    client: &Client,
) -> Result<LoginOutcome, StoreError> {
    let attempt = store.begin_login_attempt(email, throttle)?;
    if let Some(retry_after_secs) = attempt.locked_for_secs {
        log::security(&format!(
            "login refused: too many failed attempts for this account{} ip={}",
            attempt
                .user
                .as_ref()
                .map_or(String::new(), |u| format!(" user_id={}", u.id)),
            client.ip.as_deref().unwrap_or("-")
        ));
        return Ok(LoginOutcome::Locked { retry_after_secs });
    }
    let password_matches = match &attempt.user {
        Some(user) => passwords::verify(password, &user.password_hash),
        None => {
            // An unknown email costs one verification too (no user
            // enumeration by timing).
            passwords::verify_dummy(password);
            false
        }
    };
    let Some(user) = attempt.user.as_ref().filter(|_| password_matches) else {
        if let Some(user) = &attempt.user {
            record_failure(
                store,
                user,
                EventKind::LoginFailed,
                attempt.sets_lock,
                client,
            )?;
        }
        return Ok(LoginOutcome::WrongCredentials);
    };
    let user = user.clone();
    // Only a login that succeeds clears the email's failed attempts: the
    // right password of an unverified user leaves this one counted, and so
    // does the right password alone when two-factor is on (else whoever
    // knows the password could guess codes without end).
    if user.disabled {
        return Ok(LoginOutcome::Disabled);
    }
    if !user.verified {
        return Ok(LoginOutcome::Unverified);
    }
    if passwords::needs_rehash(&user.password_hash) {
        upgrade_password_hash(store, &user.id, password);
    }
    if store.mfa_enabled(&user.id)? {
        return Ok(LoginOutcome::MfaRequired(user));
    }
    store.clear_login_attempts(email)?;
    Ok(LoginOutcome::LoggedIn(user))
}

/// A registered user's failed login (`failure`: `login_failed` for a
/// password, `mfa_failed` for a code), and the lock it set (once per
/// lock): recorded right after the attempt (its outcome is known only
/// after the check).
pub(super) fn record_failure(
    store: &dyn Store,
    user: &User,
    failure: EventKind,
    locked_now: bool,
    client: &Client,
) -> Result<(), StoreError> {
    let event = |kind| NewEvent {
        user_id: user.id.clone(),
        kind,
        client: client.clone(),
        session_id: None,
    };
    let mut events = vec![event(failure)];
    if locked_now {
        events.push(event(EventKind::LoginLocked));
        log::security(&format!(
            "login locked: too many failed attempts user_id={} ip={}",
            user.id,
            client.ip.as_deref().unwrap_or("-")
        ));
    }
    store.record_events(&events)
}

/// Replaces a hash made with older parameters. A failure here must not fail
/// the login: the old hash still works, and the next login tries again.
fn upgrade_password_hash(store: &dyn Store, user_id: &str, password: &str) {
    let result = passwords::hash(password)
        .map_err(|e| e.to_string())
        .and_then(|hash| {
            store
                .update_password_hash(user_id, &hash)
                .map_err(|e| format!("{e:?}"))
        });
    if let Err(problem) = result {
        log::warn(&format!(
            "password hash upgrade skipped for user {user_id}: {problem}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::auth::fake_store::{user, FakeStore};
    use crate::store::MfaFactor;

    const EMAIL: &str = "ada@example.com";
    const THROTTLE: Throttle = Throttle {
        max_failures: 5,
        window_secs: 900,
    };
    /// An argon2id hash of "weakpassword1" with older, cheaper parameters
    /// (m = 4096, t = 1): quick to verify, and due for an upgrade.
    const WEAK_HASH: &str = "$argon2id$v=19$m=4096,t=1,p=1$5AZDI5pk90dMH1hfVTq4iQ$CjSjfwkUO7UwsN1YvYllaBjs0JEs/3aZS11Diw7FlnE";
    const WEAK_PASSWORD: &str = "weakpassword1";

    fn store_with(password_hash: &str, verified: bool) -> FakeStore {
        FakeStore::with_users(vec![user("u1", EMAIL, password_hash, verified)])
    }

    fn log_in(store: &FakeStore, password: &str) -> LoginOutcome {
        login(store, THROTTLE, EMAIL, password, &Client::default()).unwrap()
    }

    #[test]
    fn a_locked_email_is_refused_even_with_the_right_password_and_nothing_is_cleared() {
        let store = store_with(WEAK_HASH, true);
        store.locked_for_secs.set(Some(42));
        assert_eq!(
            log_in(&store, WEAK_PASSWORD),
            LoginOutcome::Locked {
                retry_after_secs: 42
            }
        );
        assert!(store.cleared.borrow().is_empty());
        assert_eq!(store.password_hash("u1"), WEAK_HASH, "no rehash either");
    }

    #[test]
    fn an_unknown_email_gets_wrong_credentials_after_a_dummy_verification() {
        let store = FakeStore::default();
        let started = Instant::now();
        assert_eq!(
            log_in(&store, "any password"),
            LoginOutcome::WrongCredentials
        );
        // Without the dummy argon2id verification (19 MiB, two passes) the
        // answer would come in microseconds; a lower bound is not disturbed
        // by a loaded machine.
        assert!(started.elapsed() >= Duration::from_millis(2));
        assert_eq!(*store.counted.borrow(), [EMAIL]);
        assert!(store.cleared.borrow().is_empty());
    }

    #[test]
    fn a_wrong_password_gets_wrong_credentials_and_stays_counted() {
        let store = store_with(WEAK_HASH, true);
        assert_eq!(log_in(&store, "not it"), LoginOutcome::WrongCredentials);
        assert_eq!(*store.counted.borrow(), [EMAIL]);
        assert!(store.cleared.borrow().is_empty());
    }

    #[test]
    fn the_right_password_clears_the_attempts_and_logs_in() {
        let current = passwords::hash("correct horse").unwrap();
        let store = store_with(&current, true);
        match log_in(&store, "correct horse") {
            LoginOutcome::LoggedIn(user) => assert_eq!(user.id, "u1"),
            other => panic!("expected a login, got {other:?}"),
        }
        assert_eq!(*store.cleared.borrow(), [EMAIL]);
        assert_eq!(store.password_hash("u1"), current, "a current hash stays");
    }

    #[test]
    fn an_unverified_user_with_the_right_password_is_unverified_and_nothing_is_cleared() {
        let store = store_with(WEAK_HASH, false);
        assert_eq!(log_in(&store, WEAK_PASSWORD), LoginOutcome::Unverified);
        assert!(store.cleared.borrow().is_empty());
        assert_eq!(
            store.password_hash("u1"),
            WEAK_HASH,
            "the hash is upgraded only at a login that succeeds"
        );
    }

    #[test]
    fn an_unverified_user_with_a_wrong_password_gets_wrong_credentials() {
        let store = store_with(WEAK_HASH, false);
        assert_eq!(log_in(&store, "not it"), LoginOutcome::WrongCredentials);
        assert!(store.cleared.borrow().is_empty());
    }

    #[test]
    fn an_old_hash_is_upgraded_at_a_successful_login() {
        let store = store_with(WEAK_HASH, true);
        assert!(matches!(
            log_in(&store, WEAK_PASSWORD),
            LoginOutcome::LoggedIn(_)
        ));
        let upgraded = store.password_hash("u1");
        assert!(!passwords::needs_rehash(&upgraded), "{upgraded}");
        assert!(passwords::verify(WEAK_PASSWORD, &upgraded));
    }

    fn recorded(store: &FakeStore) -> Vec<&'static str> {
        store
            .events
            .borrow()
            .iter()
            .map(|e| e.kind.as_str())
            .collect()
    }

    #[test]
    fn a_registered_users_wrong_password_is_an_event_and_the_locking_one_two() {
        let store = store_with(WEAK_HASH, true);
        log_in(&store, "wrong password");
        assert_eq!(recorded(&store), ["login_failed"]);
        store.sets_lock.set(true);
        log_in(&store, "wrong again");
        assert_eq!(
            recorded(&store),
            ["login_failed", "login_failed", "login_locked"]
        );
        assert_eq!(store.events.borrow()[0].user_id, "u1");
    }

    #[test]
    fn unknown_emails_and_right_passwords_record_no_failure() {
        let unknown = FakeStore::default();
        log_in(&unknown, "any password");
        assert!(recorded(&unknown).is_empty());
        let store = store_with(WEAK_HASH, true);
        log_in(&store, WEAK_PASSWORD);
        assert!(recorded(&store).is_empty());
    }

    #[test]
    fn with_two_factor_on_the_right_password_asks_for_the_code_and_clears_nothing() {
        let store = store_with(WEAK_HASH, true);
        store.factors.borrow_mut().push((
            "u1".into(),
            MfaFactor {
                sealed_secret: Vec::new(),
                confirmed: true,
                last_step: None,
            },
        ));
        assert!(matches!(
            log_in(&store, WEAK_PASSWORD),
            LoginOutcome::MfaRequired(u) if u.id == "u1"
        ));
        assert!(store.cleared.borrow().is_empty());
        assert_eq!(
            *store.counted.borrow(),
            [EMAIL],
            "the attempt stays counted"
        );
    }
}
