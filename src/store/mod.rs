//! The storage port: everything the use-cases need from the database, as
//! plain Rust ([`Store`]), and its one implementation, [`SqlStore`], over
//! either database driver ([`db::Db`]: Spin's Postgres or SQLite, or the
//! native adapters in tests). The SQL is kept by operation, both dialects
//! side by side: `users.rs`, `sessions.rs`, `throttle.rs`; `schema.rs`
//! versions the schema and applies pending migrations on first need. The
//! rows of both dialects are read by one mapping (`row.rs`).
//!
//! Spin runs each statement on its own (and a managed database may send
//! each over the network), so no write relies on a transaction spanning
//! calls: every write that must be atomic is one statement. Real Spin
//! 4.0.x never answers a Postgres `query` with zero rows, so every Postgres
//! query returns exactly one row by construction (a one-row source `FROM
//! (SELECT 1) AS one LEFT JOIN ...`, writes wrapped in a CTE joined to it);
//! writes that return nothing use `execute`. Postgres instants are read as
//! epoch numbers (Spin cannot read `timestamptz`); SQLite's are integer
//! microseconds from the component's clock.

mod accounts;
mod admin;
pub mod db;
mod events;
mod mfa;
pub mod row;
pub mod schema;
mod sessions;
#[cfg(all(test, feature = "native-db"))]
mod tests;
mod throttle;
mod users;

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use db::{Db, DbError, DbErrorKind, Dialect, Rows};
use row::{Row, Value};

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
    /// Disabled by an admin: no login, no refresh.
    pub disabled: bool,
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
    /// `false` when `require_email_verification` holds the user back until
    /// it follows the emailed link.
    pub verified: bool,
}

/// A login attempt, counted before the password is checked, with the user
/// it is for (one round trip).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginAttempt {
    pub user: Option<User>,
    /// `Some(whole seconds until the lock lifts, rounded up)` when the email
    /// was already locked: the attempt was refused and not counted.
    pub locked_for_secs: Option<u64>,
    /// This attempt reached the limit and set the lock (if its password
    /// turns out wrong, it is the one that locked the email).
    pub sets_lock: bool,
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
    /// How the login was authenticated: `pwd`, or `pwd otp` (space-separated
    /// `amr` values, kept for the session's refreshed access tokens).
    pub amr: String,
    /// Where the login came from (kept on the session and its `login` event).
    pub client: Client,
    /// Security events older than this are pruned on the way.
    pub event_retention_secs: u64,
}

/// Where a request came from: the client IP Spin reports (no port) and the
/// `User-Agent` (cut at 256 characters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session, as `GET /api/users/me/sessions` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub created_at_us: i64,
    pub last_used_at_us: i64,
    pub expires_at_us: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// What happened to an account (the `type` of a security event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Login,
    LoginFailed,
    LoginLocked,
    Logout,
    LogoutAll,
    RefreshReuse,
    SessionRevoked,
    EmailVerified,
    PasswordResetRequested,
    PasswordReset,
    PasswordChanged,
    MfaFailed,
    MfaEnabled,
    MfaDisabled,
    AdminUpdate,
    AdminLogoutAll,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::LoginFailed => "login_failed",
            EventKind::LoginLocked => "login_locked",
            EventKind::Logout => "logout",
            EventKind::LogoutAll => "logout_all",
            EventKind::RefreshReuse => "refresh_reuse",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::EmailVerified => "email_verified",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordReset => "password_reset",
            EventKind::PasswordChanged => "password_changed",
            EventKind::MfaFailed => "mfa_failed",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::AdminUpdate => "admin_update",
            EventKind::AdminLogoutAll => "admin_logout_all",
        }
    }
}

/// An event to record. Never a token, password, code or hash.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub user_id: String,
    pub kind: EventKind,
    pub client: Client,
    pub session_id: Option<String>,
}

/// A recorded event, as `GET /api/users/me/events` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    /// Increases with every event: the page cursor.
    pub id: i64,
    pub kind: String,
    pub at_us: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    EmailVerification,
    PasswordReset,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::EmailVerification => "email_verification",
            TokenKind::PasswordReset => "password_reset",
        }
    }
}

/// A one-time token to mint for the user registered as `email`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest<'a> {
    /// Trimmed and lower-cased.
    pub email: &'a str,
    pub kind: TokenKind,
    /// SHA-256 of the token: the token itself is never stored.
    pub digest: Vec<u8>,
    pub lifetime_secs: u64,
    /// Mint only for a user not verified yet (a verification resent).
    pub only_unverified: bool,
    /// Mint nothing when the user already had this many tokens in the last
    /// hour (the email limit).
    pub max_per_hour: u64,
    /// The event the request records when a token is minted.
    pub event: Option<EventKind>,
    pub client: &'a Client,
}

/// A token minted, with its user (whom the email goes to).
#[derive(Debug, Clone, PartialEq)]
pub struct MintedToken {
    pub user: User,
    pub expires_at_us: i64,
}

/// How the owner of an account proved it for a change.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeProof {
    /// An open one-time token of `kind` (the mailbox).
    Token { digest: Vec<u8>, kind: TokenKind },
    /// A signed-in session (with the password checked by the caller); that
    /// session is kept when the others are revoked.
    Session { user_id: String, session_id: String },
}

/// A verification, a password reset or a password change, applied in one
/// statement (`Store::apply_account_change`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountChange {
    pub proof: ChangeProof,
    /// A new argon2id hash: also spends the user's other open tokens and
    /// revokes its sessions (but the proving one).
    pub new_password_hash: Option<String>,
    /// `admin_emails`: a token's owner among them becomes admin.
    pub admin_emails: Vec<String>,
    pub event: EventKind,
    pub client: Client,
}

/// `PATCH /api/users/me`: `None` leaves a field as it is; `photo:
/// Some(None)` clears the photo.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub photo: Option<Option<String>>,
}

/// A user's TOTP factor.
#[derive(Debug, Clone, PartialEq)]
pub struct MfaFactor {
    /// The secret sealed under `mfa_encryption_key` (`auth::secret_box`).
    pub sealed_secret: Vec<u8>,
    /// `false` while pending (enrolled, not confirmed).
    pub confirmed: bool,
    /// The last time step whose code was accepted.
    pub last_step: Option<u64>,
}

/// `POST /api/users/me/mfa/totp/confirm`, applied by `Store::confirm_factor`.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorConfirmation {
    pub user_id: String,
    /// The step of the code that confirmed it (remembered: no replay).
    pub step: u64,
    /// The secret sealed again under the current key, when an older key opened it.
    pub reseal: Option<Vec<u8>>,
    /// SHA-256 of each recovery code.
    pub recovery_digests: Vec<Vec<u8>>,
    /// The caller's session: every other one is revoked.
    pub keep_session: String,
    pub client: Client,
}

/// The second step of a login waiting for its code.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMfaToken {
    pub digest: Vec<u8>,
    pub user_id: String,
    pub lifetime_secs: u64,
    pub client: Client,
}

/// An `mfa_token` looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct MfaTokenInfo {
    /// `None` when the user was deleted.
    pub user: Option<User>,
    /// Not spent, not expired, fewer than 5 wrong codes.
    pub live: bool,
}

/// A page of the admin listing (`GET /api/admin/users`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage<'a> {
    /// A substring of the email or the name.
    pub query: Option<&'a str>,
    /// The `(created_at in microseconds, id)` of the last user of the
    /// previous page.
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// A user as `GET /api/admin/users/{id}` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminUserInfo {
    pub user: User,
    /// Two-factor is on (a confirmed TOTP factor).
    pub mfa_enabled: bool,
    /// Not revoked, before the absolute timeout.
    pub live_sessions: i64,
}

/// `PATCH /api/admin/users/{id}`: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminChange {
    pub verified: Option<bool>,
    /// `user` or `admin`.
    pub role: Option<String>,
    pub disabled: Option<bool>,
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
    /// The session's `amr` (see [`NewSession::amr`]).
    pub amr: String,
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
    /// The session's `amr` (see [`NewSession::amr`]).
    pub amr: String,
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
    /// `DELETE /api/users/me/sessions/{id}`.
    SessionRevoked,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutAll => "logout_all",
            RevokeReason::RefreshTokenReuse => "refresh_token_reuse",
            RevokeReason::SessionRevoked => "session_revoked",
        }
    }

    /// The security event a revocation for this reason records.
    pub fn event(self) -> EventKind {
        match self {
            RevokeReason::Logout => EventKind::Logout,
            RevokeReason::LogoutAll => EventKind::LogoutAll,
            RevokeReason::RefreshTokenReuse => EventKind::RefreshReuse,
            RevokeReason::SessionRevoked => EventKind::SessionRevoked,
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
    /// Revokes a session already identified by one of its tokens (reuse
    /// detection), whoever owns it and whatever its state; records the
    /// reason's event (with `client`) in the same statement.
    fn revoke_known_session(
        &self,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<(), StoreError>;
    /// Revokes `session_id` only if it is a live session of `user_id`;
    /// `false` if it was not. Records the reason's event when it was.
    fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError>;
    /// Revokes the live session whose current refresh token is `digest`.
    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError>;
    /// Revokes every session of the user, if `session_id` is active; one
    /// `logout_all` event.
    fn revoke_all_sessions(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError>;
    /// Records events that no other write of the request carries.
    fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Whole seconds left on the email's login lock, counting nothing.
    fn login_lock(&self, email: &str) -> Result<Option<u64>, StoreError>;
    /// Mints a one-time token (see [`TokenRequest`]); `None` when none was
    /// minted (no such user, already verified, or over the hourly limit).
    fn mint_token(&self, request: &TokenRequest) -> Result<Option<MintedToken>, StoreError>;
    /// Applies a verification, reset or password change in one statement;
    /// `None` when its token is not an open one of its kind.
    fn apply_account_change(&self, change: &AccountChange) -> Result<Option<User>, StoreError>;
    fn update_profile(
        &self,
        user_id: &str,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError>;
    /// Deletes the user, its tokens and events, and revokes its sessions.
    fn delete_user(&self, user_id: &str) -> Result<bool, StoreError>;
    /// The user's live sessions (not revoked, before the absolute timeout),
    /// newest first.
    fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError>;
    /// Up to `limit` of the user's events within the retention, newest
    /// first, with ids below `before_id`.
    fn list_events(
        &self,
        user_id: &str,
        before_id: Option<i64>,
        limit: u32,
        retention_secs: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError>;
    /// The user's TOTP factor, pending or confirmed.
    fn mfa_factor(&self, user_id: &str) -> Result<Option<MfaFactor>, StoreError>;
    /// Whether two-factor is on (a confirmed factor). Asked only where it
    /// matters (a login, a password re-check, the routes that then need a
    /// code), not with every user read: `/me` and refresh never pay for it.
    fn mfa_enabled(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self.mfa_factor(user_id)?.is_some_and(|f| f.confirmed))
    }
    /// Saves a pending factor (replacing a pending one); `false` when the
    /// user's factor is already confirmed.
    fn save_pending_factor(&self, user_id: &str, sealed_secret: &[u8]) -> Result<bool, StoreError>;
    /// Confirms the pending factor; `false` when there is none or the step
    /// was already used.
    fn confirm_factor(&self, confirmation: &FactorConfirmation) -> Result<bool, StoreError>;
    /// Accepts a code of `step` for the confirmed factor, once (no replay).
    fn accept_totp_step(
        &self,
        user_id: &str,
        step: u64,
        reseal: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// Spends an unused recovery code of the user.
    fn use_recovery_code(&self, user_id: &str, digest: &[u8]) -> Result<bool, StoreError>;
    /// Turns two-factor off (factor, recovery codes, open `mfa_token`s);
    /// `false` when it was not on.
    fn delete_factor(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError>;
    fn create_mfa_token(&self, token: &NewMfaToken) -> Result<(), StoreError>;
    fn find_mfa_token(&self, digest: &[u8]) -> Result<Option<MfaTokenInfo>, StoreError>;
    fn count_mfa_token_failure(&self, digest: &[u8]) -> Result<(), StoreError>;
    /// Spends an open `mfa_token`: of parallel tries, one gets `true`.
    fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool, StoreError>;
    /// A page of users, oldest first (`created_at`, then `id`).
    fn list_users(&self, page: &UserPage) -> Result<Vec<User>, StoreError>;
    fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserInfo>, StoreError>;
    /// An admin's change (disabling revokes every session); `None` when
    /// there is no such user.
    fn admin_update_user(
        &self,
        user_id: &str,
        change: &AdminChange,
        client: &Client,
    ) -> Result<Option<User>, StoreError>;
    /// Revokes every session of the user; `false` when there is no such user.
    fn admin_logout_all(&self, user_id: &str, client: &Client) -> Result<bool, StoreError>;
}

/// The store over one database connection.
pub struct SqlStore<D> {
    db: D,
    /// SQLite's instants come from here (microseconds since the epoch).
    clock: fn() -> i64,
    /// Whether this instance already tried to upgrade the schema (once per
    /// request is enough: a statement that still fails afterwards is a
    /// failure, not a schema that is behind).
    upgrade_tried: Cell<bool>,
}

/// Microseconds since the Unix epoch (the WASI wall clock inside Spin).
pub fn system_clock_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const MICROS_PER_SEC: i64 = 1_000_000;
/// Sessions and throttle rows are pruned this long after they stopped mattering.
const PRUNE_AFTER_US: i64 = 86_400 * MICROS_PER_SEC;
/// At most this many stale rows are pruned per request.
const PRUNE_BATCH: i64 = 100;

impl<D: Db> SqlStore<D> {
    pub fn new(db: D) -> Self {
        Self::with_clock(db, system_clock_us)
    }

    pub fn with_clock(db: D, clock: fn() -> i64) -> Self {
        SqlStore {
            db,
            clock,
            upgrade_tried: Cell::new(false),
        }
    }

    pub fn db(&self) -> &D {
        &self.db
    }

    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn now_us(&self) -> i64 {
        (self.clock)()
    }

    fn now(&self) -> Value {
        Value::Int(self.now_us())
    }

    /// Runs a statement; one that finds the schema behind (a missing table
    /// or column) applies the pending migrations and runs once more.
    fn run<T>(&self, statement: impl Fn() -> Result<T, DbError>) -> Result<T, StoreError> {
        match statement() {
            Err(error) if error.kind == DbErrorKind::SchemaBehind && !self.upgrade_tried.get() => {
                self.upgrade_tried.set(true);
                // Not the driver's message: SQLite's names the statement.
                crate::log::info("the database schema is behind: migrating");
                let upgrade = schema::upgrade(&self.db)?;
                crate::log::info(&format!(
                    "schema: the missing tables and columns are there now (created them): \
                     applied migrations {:?}, schema version {:?}",
                    upgrade.applied(),
                    upgrade.after.last()
                ));
                statement().map_err(StoreError::from)
            }
            result => result.map_err(StoreError::from),
        }
    }

    fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, StoreError> {
        self.run(|| self.db.query(statement, params))
    }

    fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.run(|| self.db.execute(statement, params))
    }

    fn first_row(&self, statement: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(statement, params)?.first())
    }

    /// SQLite: deletes a bounded batch of `table`'s rows (keyed by `key`)
    /// that expired a day ago (Postgres does it inside the write's CTE,
    /// [`pruned_cte`]).
    fn prune_expired_sqlite(&self, table: &str, key: &str) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "DELETE FROM {table} WHERE {key} IN ( \
                   SELECT {key} FROM {table} WHERE expires_at < ?1 - ?2 LIMIT ?3)"
            ),
            &[
                self.now(),
                Value::Int(PRUNE_AFTER_US),
                Value::Int(PRUNE_BATCH),
            ],
        )?;
        Ok(())
    }

    /// A query that returns one row by construction (a one-row source).
    fn one_row(&self, statement: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.first_row(statement, params)?
            .ok_or_else(|| StoreError::Unavailable("a one-row query returned no row".into()))
    }
}

/// Postgres: the CTE `pruned` that deletes a bounded batch of `table`'s
/// rows (keyed by `key`) that expired a day ago, for a write to carry
/// along ([`SqlStore::prune_expired_sqlite`] on SQLite).
fn pruned_cte(table: &str, key: &str) -> String {
    format!(
        "pruned AS ( \
           DELETE FROM {table} WHERE {key} IN ( \
             SELECT {key} FROM {table} WHERE expires_at < now() - interval '1 day' \
             LIMIT {PRUNE_BATCH}))"
    )
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

/// Text, or NULL for `None`.
fn opt_text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, text)
}

fn bytes(value: &[u8]) -> Value {
    Value::Bytes(value.to_vec())
}

fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

fn secs_to_us(secs: u64) -> Value {
    Value::Int(
        i64::try_from(secs)
            .unwrap_or(i64::MAX / MICROS_PER_SEC)
            .saturating_mul(MICROS_PER_SEC),
    )
}

/// Whole seconds from `now_us` until `until_us`, rounded up.
fn secs_until(until_us: i64, now_us: i64) -> i64 {
    (until_us - now_us + MICROS_PER_SEC - 1).div_euclid(MICROS_PER_SEC)
}

impl<D: Db> Store for SqlStore<D> {
    fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        SqlStore::insert_user(self, user)
    }
    fn begin_login_attempt(
        &self,
        email: &str,
        throttle: Throttle,
    ) -> Result<LoginAttempt, StoreError> {
        SqlStore::begin_login_attempt(self, email, throttle)
    }
    fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        SqlStore::clear_login_attempts(self, email)
    }
    fn update_password_hash(&self, user_id: &str, password_hash: &str) -> Result<(), StoreError> {
        SqlStore::update_password_hash(self, user_id, password_hash)
    }
    fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        SqlStore::create_session(self, session)
    }
    fn user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserSession, StoreError> {
        SqlStore::user_with_session(self, user_id, session_id)
    }
    fn rotate_refresh_token(
        &self,
        old: &[u8],
        new: &[u8],
        lifetime_secs: u64,
    ) -> Result<Option<Rotation>, StoreError> {
        SqlStore::rotate_refresh_token(self, old, new, lifetime_secs)
    }
    fn find_refresh_token(&self, digest: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError> {
        SqlStore::find_refresh_token(self, digest)
    }
    fn revoke_known_session(
        &self,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<(), StoreError> {
        SqlStore::revoke_known_session(self, session_id, reason, client)
    }
    fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        SqlStore::revoke_user_session(self, user_id, session_id, reason, client)
    }
    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        SqlStore::revoke_session_by_refresh(self, digest, reason, client)
    }
    fn revoke_all_sessions(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        SqlStore::revoke_all_sessions(self, user_id, session_id, client)
    }
    fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        SqlStore::record_events(self, events)
    }
    fn login_lock(&self, email: &str) -> Result<Option<u64>, StoreError> {
        SqlStore::login_lock(self, email)
    }
    fn mint_token(&self, request: &TokenRequest) -> Result<Option<MintedToken>, StoreError> {
        SqlStore::mint_token(self, request)
    }
    fn apply_account_change(&self, change: &AccountChange) -> Result<Option<User>, StoreError> {
        SqlStore::apply_account_change(self, change)
    }
    fn update_profile(
        &self,
        user_id: &str,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        SqlStore::update_profile(self, user_id, update)
    }
    fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        SqlStore::delete_user(self, user_id)
    }
    fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        SqlStore::list_sessions(self, user_id)
    }
    fn list_events(
        &self,
        user_id: &str,
        before_id: Option<i64>,
        limit: u32,
        retention_secs: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        SqlStore::list_events(self, user_id, before_id, limit, retention_secs)
    }
    fn mfa_factor(&self, user_id: &str) -> Result<Option<MfaFactor>, StoreError> {
        SqlStore::mfa_factor(self, user_id)
    }
    fn save_pending_factor(&self, user_id: &str, sealed_secret: &[u8]) -> Result<bool, StoreError> {
        SqlStore::save_pending_factor(self, user_id, sealed_secret)
    }
    fn confirm_factor(&self, confirmation: &FactorConfirmation) -> Result<bool, StoreError> {
        SqlStore::confirm_factor(self, confirmation)
    }
    fn accept_totp_step(
        &self,
        user_id: &str,
        step: u64,
        reseal: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        SqlStore::accept_totp_step(self, user_id, step, reseal)
    }
    fn use_recovery_code(&self, user_id: &str, digest: &[u8]) -> Result<bool, StoreError> {
        SqlStore::use_recovery_code(self, user_id, digest)
    }
    fn delete_factor(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        SqlStore::delete_factor(self, user_id, session_id, client)
    }
    fn create_mfa_token(&self, token: &NewMfaToken) -> Result<(), StoreError> {
        SqlStore::create_mfa_token(self, token)
    }
    fn find_mfa_token(&self, digest: &[u8]) -> Result<Option<MfaTokenInfo>, StoreError> {
        SqlStore::find_mfa_token(self, digest)
    }
    fn count_mfa_token_failure(&self, digest: &[u8]) -> Result<(), StoreError> {
        SqlStore::count_mfa_token_failure(self, digest)
    }
    fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool, StoreError> {
        SqlStore::spend_mfa_token(self, digest)
    }
    fn list_users(&self, page: &UserPage) -> Result<Vec<User>, StoreError> {
        SqlStore::list_users(self, page)
    }
    fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserInfo>, StoreError> {
        SqlStore::admin_user(self, user_id)
    }
    fn admin_update_user(
        &self,
        user_id: &str,
        change: &AdminChange,
        client: &Client,
    ) -> Result<Option<User>, StoreError> {
        SqlStore::admin_update_user(self, user_id, change, client)
    }
    fn admin_logout_all(&self, user_id: &str, client: &Client) -> Result<bool, StoreError> {
        SqlStore::admin_logout_all(self, user_id, client)
    }
}

/// A database that cannot be reached (or is not configured): every
/// statement fails with the reason, which the handler logs and answers
/// with `503`.
pub struct DownDb {
    reason: String,
}

impl Db for DownDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn query(&self, _: &str, _: &[Value]) -> Result<Rows, DbError> {
        Err(DbError::other(self.reason.clone()))
    }
    fn execute(&self, _: &str, _: &[Value]) -> Result<u64, DbError> {
        Err(DbError::other(self.reason.clone()))
    }
}

/// The store of a service whose database is not usable.
pub type DownStore = SqlStore<DownDb>;

impl DownStore {
    pub fn down(reason: impl Into<String>) -> Self {
        SqlStore::new(DownDb {
            reason: reason.into(),
        })
    }
}
