//! The storage port: everything the handlers need from the database, as
//! plain Rust. All SQL lives in the backends: `postgres.rs` (Spin's
//! `spin:postgres`) and `sqlite.rs` (Spin's `spin:sqlite`, through
//! `spin_sqlite.rs`). Handlers never know which one they talk to.

#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
pub mod postgres;
pub mod row;
#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
pub mod spin_sqlite;
pub mod sqlite;

use crate::error::StoreError;

/// A user row. `password_hash` never leaves the service.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub photo: Option<String>,
    pub role: String,
    pub verified: bool,
    /// Microseconds since the Unix epoch.
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub photo: Option<String>,
}

/// A login attempt, counted before the password is checked, with the user
/// it is for (one round trip).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginAttempt {
    pub user: Option<User>,
    /// `Some(whole seconds until the lock lifts, rounded up)` when the email
    /// was already locked: the attempt was refused and not counted.
    pub locked_for_secs: Option<u64>,
}

/// The rules of login throttling (`login_max_failures` within
/// `login_lockout_seconds`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub max_failures: u64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub refresh_digest: Vec<u8>,
    pub refresh_lifetime_secs: u64,
    pub absolute_timeout_secs: u64,
}

/// A successful refresh-token rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub session_id: String,
    pub user_id: String,
    /// `None` when the user was deleted.
    pub user: Option<User>,
    /// Seconds the new refresh token lives (sliding, capped by the session's
    /// absolute timeout).
    pub refresh_lifetime_secs: i64,
}

/// A known refresh token that could not be rotated: the current token of a
/// session that ended or whose user is gone, or one already rotated away.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownRefreshToken {
    pub session_id: String,
    pub user_id: String,
    pub user: Option<User>,
    /// `Some(milliseconds since it was retired)` for a rotated-away token.
    pub retired_ms_ago: Option<i64>,
    /// Not revoked and not past its absolute timeout.
    pub session_active: bool,
}

/// A user looked up by id, with whether the named session is still active.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSession {
    pub user: Option<User>,
    pub session_active: bool,
}

/// Why a session was revoked (stored for audits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RevokeReason {
    Logout,
    LogoutAll,
    RefreshTokenReuse,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutAll => "logout_all",
            RevokeReason::RefreshTokenReuse => "refresh_token_reuse",
        }
    }
}

pub trait Store {
    /// Inserts a user; `StoreError::Conflict` when the email is taken.
    fn insert_user(&self, user: &NewUser) -> Result<User, StoreError>;
    /// Counts a login attempt for `email` before its password is checked,
    /// atomically (parallel attempts queue on the email's row): refused
    /// without counting when the email is locked, and locking it when this
    /// attempt is the `max_failures`-th within the window.
    fn begin_login_attempt(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError>;
    /// A successful login: forgets the email's attempts and lock.
    fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError>;
    fn update_password_hash(&self, user_id: &str, password_hash: &str) -> Result<(), StoreError>;
    fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;
    fn user_with_session(&self, user_id: &str, session_id: &str)
        -> Result<UserSession, StoreError>;
    /// Atomically replaces the current refresh token `old` by `new`; `None`
    /// when `old` is not the current token of an active session.
    fn rotate_refresh_token(
        &self,
        old: &[u8],
        new: &[u8],
        lifetime_secs: u64,
    ) -> Result<Option<Rotation>, StoreError>;
    /// Looks up a refresh token that `rotate_refresh_token` refused.
    fn find_refresh_token(&self, digest: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError>;
    fn revoke_session(&self, session_id: &str, reason: RevokeReason) -> Result<(), StoreError>;
    /// Revokes the active session an access token names; `false` if none.
    fn revoke_session_by_id(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
    ) -> Result<bool, StoreError>;
    /// Revokes the active session whose current refresh token is `digest`.
    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
    ) -> Result<bool, StoreError>;
    /// Revokes every session of the user, if `session_id` is active.
    fn revoke_all_sessions(&self, user_id: &str, session_id: &str) -> Result<bool, StoreError>;
}

/// A store whose database cannot be reached (or is not configured): every
/// call fails with the reason, which the handler logs and answers with `503`.
pub struct DownStore {
    reason: String,
}

impl DownStore {
    pub fn new(reason: impl Into<String>) -> Self {
        DownStore {
            reason: reason.into(),
        }
    }

    fn fail<T>(&self) -> Result<T, StoreError> {
        Err(StoreError::Unavailable(self.reason.clone()))
    }
}

impl Store for DownStore {
    fn insert_user(&self, _: &NewUser) -> Result<User, StoreError> {
        self.fail()
    }
    fn begin_login_attempt(&self, _: &str, _: Throttle) -> Result<LoginAttempt, StoreError> {
        self.fail()
    }
    fn clear_login_attempts(&self, _: &str) -> Result<(), StoreError> {
        self.fail()
    }
    fn update_password_hash(&self, _: &str, _: &str) -> Result<(), StoreError> {
        self.fail()
    }
    fn create_session(&self, _: &NewSession) -> Result<(), StoreError> {
        self.fail()
    }
    fn user_with_session(&self, _: &str, _: &str) -> Result<UserSession, StoreError> {
        self.fail()
    }
    fn rotate_refresh_token(
        &self,
        _: &[u8],
        _: &[u8],
        _: u64,
    ) -> Result<Option<Rotation>, StoreError> {
        self.fail()
    }
    fn find_refresh_token(&self, _: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError> {
        self.fail()
    }
    fn revoke_session(&self, _: &str, _: RevokeReason) -> Result<(), StoreError> {
        self.fail()
    }
    fn revoke_session_by_id(&self, _: &str, _: &str, _: RevokeReason) -> Result<bool, StoreError> {
        self.fail()
    }
    fn revoke_session_by_refresh(&self, _: &[u8], _: RevokeReason) -> Result<bool, StoreError> {
        self.fail()
    }
    fn revoke_all_sessions(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        self.fail()
    }
}
