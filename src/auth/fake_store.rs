//! An in-memory [`Store`] for the use-case tests: just enough state to
//! answer as the real backends do, and to show afterwards what a use-case
//! asked of the store.

use std::cell::{Cell, RefCell};

use crate::error::StoreError;
use crate::store::{
    AccountChange, AdminChange, AdminUserInfo, ChangeProof, Client, EventKind, FactorConfirmation,
    KnownRefreshToken, LoginAttempt, MfaFactor, MfaTokenInfo, MintedToken, NewEvent, NewMfaToken,
    NewSession, NewUser, ProfileUpdate, RevokeReason, Rotation, SecurityEvent, SessionInfo, Store,
    Throttle, TokenKind, TokenRequest, User, UserPage, UserSession,
};

#[derive(Default)]
pub struct FakeStore {
    pub users: RefCell<Vec<User>>,
    /// What `begin_login_attempt` reports as the lock of every email.
    pub locked_for_secs: Cell<Option<u64>>,
    /// Emails whose attempt was counted.
    pub counted: RefCell<Vec<String>>,
    /// Emails whose attempts were cleared.
    pub cleared: RefCell<Vec<String>>,
    pub sessions: RefCell<Vec<FakeSession>>,
    /// What `begin_login_attempt` reports as `sets_lock`.
    pub sets_lock: Cell<bool>,
    /// Events recorded, the revocations' included (kind and session).
    pub events: RefCell<Vec<NewEvent>>,
    pub tokens: RefCell<Vec<FakeToken>>,
    /// Each user's TOTP factor.
    pub factors: RefCell<Vec<(String, MfaFactor)>>,
    /// (digest, user id, used) of each recovery code.
    pub recovery_codes: RefCell<Vec<(Vec<u8>, String, bool)>>,
    pub mfa_tokens: RefCell<Vec<FakeMfaToken>>,
}

/// An `mfa_token` filed.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeMfaToken {
    pub digest: Vec<u8>,
    pub user_id: String,
    pub failures: i64,
    pub spent: bool,
}

/// A one-time token minted.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeToken {
    pub digest: Vec<u8>,
    pub kind: TokenKind,
    pub user_id: String,
    pub spent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FakeSession {
    pub id: String,
    pub user_id: String,
    /// The digest of the current refresh token.
    pub current: Vec<u8>,
    /// Rotated-away digests, with how many milliseconds ago.
    pub retired: Vec<(Vec<u8>, i64)>,
    pub refresh_lifetime_secs: u64,
    pub revoked: Option<RevokeReason>,
    pub amr: String,
}

impl FakeSession {
    pub fn new(id: &str, user_id: &str, current: Vec<u8>) -> Self {
        FakeSession {
            id: id.into(),
            user_id: user_id.into(),
            current,
            retired: Vec::new(),
            refresh_lifetime_secs: 3600,
            revoked: None,
            amr: "pwd".into(),
        }
    }
}

pub fn user(id: &str, email: &str, password_hash: &str, verified: bool) -> User {
    User {
        id: id.into(),
        name: "Ada".into(),
        email: email.into(),
        password_hash: password_hash.into(),
        photo: None,
        role: "user".into(),
        verified,
        disabled: false,
        created_at_us: 0,
        updated_at_us: 0,
    }
}

impl FakeStore {
    pub fn with_users(users: Vec<User>) -> Self {
        FakeStore {
            users: RefCell::new(users),
            ..FakeStore::default()
        }
    }

    pub fn add_session(&self, session: FakeSession) {
        self.sessions.borrow_mut().push(session);
    }

    pub fn session(&self, id: &str) -> FakeSession {
        self.sessions
            .borrow()
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .unwrap()
    }

    pub fn password_hash(&self, user_id: &str) -> String {
        self.user_by_id(user_id).unwrap().password_hash
    }

    fn user_by_id(&self, id: &str) -> Option<User> {
        self.users.borrow().iter().find(|u| u.id == id).cloned()
    }

    /// Revokes the sessions `pick` chooses among the active ones; whether
    /// there was any.
    /// Revokes as the real store does, with one event per session revoked.
    fn revoke_recording(
        &self,
        reason: RevokeReason,
        client: &Client,
        pick: impl Fn(&FakeSession) -> bool,
    ) -> bool {
        let picked: Vec<FakeSession> = self
            .sessions
            .borrow()
            .iter()
            .filter(|s| s.revoked.is_none() && pick(s))
            .cloned()
            .collect();
        for session in &picked {
            self.events.borrow_mut().push(NewEvent {
                user_id: session.user_id.clone(),
                kind: reason.event(),
                client: client.clone(),
                session_id: Some(session.id.clone()),
            });
        }
        self.revoke_where(reason, pick)
    }

    fn revoke_where(&self, reason: RevokeReason, pick: impl Fn(&FakeSession) -> bool) -> bool {
        let mut any = false;
        for session in self.sessions.borrow_mut().iter_mut() {
            if session.revoked.is_none() && pick(session) {
                session.revoked = Some(reason);
                any = true;
            }
        }
        any
    }
}

impl Store for FakeStore {
    fn insert_user(&self, new: &NewUser) -> Result<User, StoreError> {
        if self.users.borrow().iter().any(|u| u.email == new.email) {
            return Err(StoreError::Conflict);
        }
        let id = format!("user-{}", self.users.borrow().len() + 1);
        let created = user(&id, &new.email, &new.password_hash, new.verified);
        self.users.borrow_mut().push(created.clone());
        Ok(created)
    }

    fn begin_login_attempt(&self, email: &str, _: Throttle) -> Result<LoginAttempt, StoreError> {
        let user = self
            .users
            .borrow()
            .iter()
            .find(|u| u.email == email)
            .cloned();
        let locked_for_secs = self.locked_for_secs.get();
        // As the real store: a locked email's attempt is refused uncounted.
        if locked_for_secs.is_none() {
            self.counted.borrow_mut().push(email.into());
        }
        Ok(LoginAttempt {
            user,
            locked_for_secs,
            sets_lock: self.sets_lock.get(),
        })
    }

    fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        self.cleared.borrow_mut().push(email.into());
        Ok(())
    }

    fn update_password_hash(&self, user_id: &str, password_hash: &str) -> Result<(), StoreError> {
        for user in self
            .users
            .borrow_mut()
            .iter_mut()
            .filter(|u| u.id == user_id)
        {
            user.password_hash = password_hash.into();
        }
        Ok(())
    }

    fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        let mut session = FakeSession::new(&new.id, &new.user_id, new.refresh_digest.clone());
        session.refresh_lifetime_secs = new.refresh_lifetime_secs;
        session.amr = new.amr.clone();
        self.add_session(session);
        Ok(())
    }

    fn user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserSession, StoreError> {
        let session_active = self
            .sessions
            .borrow()
            .iter()
            .any(|s| s.id == session_id && s.user_id == user_id && s.revoked.is_none());
        Ok(UserSession {
            user: self.user_by_id(user_id),
            session_active,
        })
    }

    fn rotate_refresh_token(
        &self,
        old: &[u8],
        new: &[u8],
        lifetime_secs: u64,
    ) -> Result<Option<Rotation>, StoreError> {
        let mut sessions = self.sessions.borrow_mut();
        let Some(session) = sessions
            .iter_mut()
            .find(|s| s.current == old && s.revoked.is_none())
        else {
            return Ok(None);
        };
        session.retired.push((old.to_vec(), 0));
        session.current = new.to_vec();
        Ok(Some(Rotation {
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            user: self.user_by_id(&session.user_id),
            refresh_lifetime_secs: lifetime_secs as i64,
            amr: session.amr.clone(),
        }))
    }

    fn find_refresh_token(&self, digest: &[u8]) -> Result<Option<KnownRefreshToken>, StoreError> {
        let sessions = self.sessions.borrow();
        let found = sessions.iter().find_map(|s| {
            let retired_ms_ago = if s.current == digest {
                None
            } else {
                Some(s.retired.iter().find(|(d, _)| d == digest)?.1)
            };
            Some(KnownRefreshToken {
                session_id: s.id.clone(),
                user_id: s.user_id.clone(),
                user: self.user_by_id(&s.user_id),
                retired_ms_ago,
                session_active: s.revoked.is_none(),
                amr: s.amr.clone(),
            })
        });
        Ok(found)
    }

    fn revoke_known_session(
        &self,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<(), StoreError> {
        self.revoke_recording(reason, client, |s| s.id == session_id);
        Ok(())
    }

    fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        Ok(self.revoke_recording(reason, client, |s| {
            s.id == session_id && s.user_id == user_id
        }))
    }

    fn revoke_session_by_refresh(
        &self,
        digest: &[u8],
        reason: RevokeReason,
        client: &Client,
    ) -> Result<bool, StoreError> {
        Ok(self.revoke_recording(reason, client, |s| s.current == digest))
    }

    fn revoke_all_sessions(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        let active = self.user_with_session(user_id, session_id)?.session_active;
        if active {
            self.revoke_where(RevokeReason::LogoutAll, |s| s.user_id == user_id);
            self.record_events(&[NewEvent {
                user_id: user_id.into(),
                kind: RevokeReason::LogoutAll.event(),
                client: client.clone(),
                session_id: Some(session_id.into()),
            }])?;
        }
        Ok(active)
    }

    fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        self.events.borrow_mut().extend(events.iter().cloned());
        Ok(())
    }

    fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .iter()
            .filter(|s| s.user_id == user_id && s.revoked.is_none())
            .map(|s| SessionInfo {
                id: s.id.clone(),
                created_at_us: 0,
                last_used_at_us: 0,
                expires_at_us: 0,
                user_agent: None,
                ip: None,
            })
            .collect())
    }

    fn list_events(
        &self,
        user_id: &str,
        before_id: Option<i64>,
        limit: u32,
        _: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        let events = self.events.borrow();
        let mut listed: Vec<SecurityEvent> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.user_id == user_id)
            .map(|(i, e)| SecurityEvent {
                id: i as i64 + 1,
                kind: e.kind.as_str().into(),
                at_us: 0,
                ip: e.client.ip.clone(),
                user_agent: e.client.user_agent.clone(),
                session_id: e.session_id.clone(),
            })
            .filter(|e| e.id < before_id.unwrap_or(i64::MAX))
            .collect();
        listed.reverse();
        listed.truncate(limit as usize);
        Ok(listed)
    }

    fn login_lock(&self, _: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.locked_for_secs.get())
    }

    fn mint_token(&self, request: &TokenRequest) -> Result<Option<MintedToken>, StoreError> {
        let user = self
            .users
            .borrow()
            .iter()
            .find(|u| u.email == request.email)
            .cloned();
        let Some(user) = user.filter(|u| !(request.only_unverified && u.verified)) else {
            return Ok(None);
        };
        let minted = self
            .tokens
            .borrow()
            .iter()
            .filter(|t| t.user_id == user.id)
            .count() as u64;
        if minted >= request.max_per_hour {
            return Ok(None);
        }
        for token in self.tokens.borrow_mut().iter_mut() {
            if token.user_id == user.id && token.kind == request.kind {
                token.spent = true;
            }
        }
        self.tokens.borrow_mut().push(FakeToken {
            digest: request.digest.clone(),
            kind: request.kind,
            user_id: user.id.clone(),
            spent: false,
        });
        Ok(Some(MintedToken {
            user,
            expires_at_us: 0,
        }))
    }

    fn apply_account_change(&self, change: &AccountChange) -> Result<Option<User>, StoreError> {
        let user_id = match &change.proof {
            ChangeProof::Token { digest, kind } => {
                let mut tokens = self.tokens.borrow_mut();
                let Some(token) = tokens
                    .iter_mut()
                    .find(|t| &t.digest == digest && t.kind == *kind && !t.spent)
                else {
                    return Ok(None);
                };
                token.spent = true;
                token.user_id.clone()
            }
            ChangeProof::Session { user_id, .. } => user_id.clone(),
        };
        let mut users = self.users.borrow_mut();
        let Some(user) = users.iter_mut().find(|u| u.id == user_id) else {
            return Ok(None);
        };
        if let Some(hash) = &change.new_password_hash {
            user.password_hash = hash.clone();
        }
        if matches!(change.proof, ChangeProof::Token { .. }) {
            user.verified = true;
        }
        Ok(Some(user.clone()))
    }

    fn update_profile(
        &self,
        user_id: &str,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        let mut users = self.users.borrow_mut();
        let Some(user) = users.iter_mut().find(|u| u.id == user_id) else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            user.name = name.clone();
        }
        if let Some(photo) = &update.photo {
            user.photo = photo.clone();
        }
        Ok(Some(user.clone()))
    }

    fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let before = self.users.borrow().len();
        self.users.borrow_mut().retain(|u| u.id != user_id);
        Ok(self.users.borrow().len() < before)
    }

    fn mfa_factor(&self, user_id: &str) -> Result<Option<MfaFactor>, StoreError> {
        Ok(self
            .factors
            .borrow()
            .iter()
            .find(|(id, _)| id == user_id)
            .map(|(_, f)| f.clone()))
    }

    fn save_pending_factor(&self, user_id: &str, sealed_secret: &[u8]) -> Result<bool, StoreError> {
        if self.mfa_factor(user_id)?.is_some_and(|f| f.confirmed) {
            return Ok(false);
        }
        let mut factors = self.factors.borrow_mut();
        factors.retain(|(id, _)| id != user_id);
        factors.push((
            user_id.into(),
            MfaFactor {
                sealed_secret: sealed_secret.to_vec(),
                confirmed: false,
                last_step: None,
            },
        ));
        Ok(true)
    }

    fn confirm_factor(&self, c: &FactorConfirmation) -> Result<bool, StoreError> {
        {
            let mut factors = self.factors.borrow_mut();
            let Some((_, factor)) = factors
                .iter_mut()
                .find(|(id, f)| id == &c.user_id && !f.confirmed)
            else {
                return Ok(false);
            };
            factor.confirmed = true;
            factor.last_step = Some(c.step);
            if let Some(sealed) = &c.reseal {
                factor.sealed_secret = sealed.clone();
            }
        }
        let mut codes = self.recovery_codes.borrow_mut();
        codes.retain(|(_, id, _)| id != &c.user_id);
        codes.extend(
            c.recovery_digests
                .iter()
                .map(|d| (d.clone(), c.user_id.clone(), false)),
        );
        self.revoke_where(RevokeReason::SessionRevoked, |s| {
            s.user_id == c.user_id && s.id != c.keep_session
        });
        self.record_events(&[NewEvent {
            user_id: c.user_id.clone(),
            kind: EventKind::MfaEnabled,
            client: c.client.clone(),
            session_id: Some(c.keep_session.clone()),
        }])?;
        Ok(true)
    }

    fn accept_totp_step(
        &self,
        user_id: &str,
        step: u64,
        reseal: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut factors = self.factors.borrow_mut();
        let Some((_, factor)) = factors.iter_mut().find(|(id, f)| {
            id == user_id && f.confirmed && f.last_step.is_none_or(|last| step > last)
        }) else {
            return Ok(false);
        };
        factor.last_step = Some(step);
        if let Some(sealed) = reseal {
            factor.sealed_secret = sealed.to_vec();
        }
        Ok(true)
    }

    fn use_recovery_code(&self, user_id: &str, digest: &[u8]) -> Result<bool, StoreError> {
        let mut codes = self.recovery_codes.borrow_mut();
        let Some(code) = codes
            .iter_mut()
            .find(|(d, id, used)| d == digest && id == user_id && !used)
        else {
            return Ok(false);
        };
        code.2 = true;
        Ok(true)
    }

    fn delete_factor(
        &self,
        user_id: &str,
        session_id: &str,
        client: &Client,
    ) -> Result<bool, StoreError> {
        if !self.mfa_factor(user_id)?.is_some_and(|f| f.confirmed) {
            return Ok(false);
        }
        self.factors.borrow_mut().retain(|(id, _)| id != user_id);
        self.recovery_codes
            .borrow_mut()
            .retain(|(_, id, _)| id != user_id);
        self.mfa_tokens
            .borrow_mut()
            .retain(|t| t.user_id != user_id);
        self.record_events(&[NewEvent {
            user_id: user_id.into(),
            kind: EventKind::MfaDisabled,
            client: client.clone(),
            session_id: Some(session_id.into()),
        }])?;
        Ok(true)
    }

    fn create_mfa_token(&self, token: &NewMfaToken) -> Result<(), StoreError> {
        self.mfa_tokens.borrow_mut().push(FakeMfaToken {
            digest: token.digest.clone(),
            user_id: token.user_id.clone(),
            failures: 0,
            spent: false,
        });
        Ok(())
    }

    fn find_mfa_token(&self, digest: &[u8]) -> Result<Option<MfaTokenInfo>, StoreError> {
        let tokens = self.mfa_tokens.borrow();
        Ok(tokens
            .iter()
            .find(|t| t.digest == digest)
            .map(|t| MfaTokenInfo {
                user: self.user_by_id(&t.user_id),
                live: !t.spent && t.failures < 5,
            }))
    }

    fn count_mfa_token_failure(&self, digest: &[u8]) -> Result<(), StoreError> {
        for token in self.mfa_tokens.borrow_mut().iter_mut() {
            if token.digest == digest {
                token.failures += 1;
            }
        }
        Ok(())
    }

    fn list_users(&self, page: &UserPage) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self
            .users
            .borrow()
            .iter()
            .filter(|u| {
                page.query
                    .is_none_or(|q| u.email.contains(q) || u.name.contains(q))
            })
            .filter(|u| {
                page.after
                    .as_ref()
                    .is_none_or(|(at, id)| (u.created_at_us, &u.id) > (*at, id))
            })
            .cloned()
            .collect();
        users.sort_by(|a, b| (a.created_at_us, &a.id).cmp(&(b.created_at_us, &b.id)));
        users.truncate(page.limit as usize);
        Ok(users)
    }

    fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserInfo>, StoreError> {
        let live_sessions = self
            .sessions
            .borrow()
            .iter()
            .filter(|s| s.user_id == user_id && s.revoked.is_none())
            .count() as i64;
        let mfa_enabled = self.mfa_enabled(user_id)?;
        Ok(self.user_by_id(user_id).map(|user| AdminUserInfo {
            user,
            mfa_enabled,
            live_sessions,
        }))
    }

    fn admin_update_user(
        &self,
        user_id: &str,
        change: &AdminChange,
        client: &Client,
    ) -> Result<Option<User>, StoreError> {
        let updated = {
            let mut users = self.users.borrow_mut();
            let Some(user) = users.iter_mut().find(|u| u.id == user_id) else {
                return Ok(None);
            };
            user.verified = change.verified.unwrap_or(user.verified);
            user.disabled = change.disabled.unwrap_or(user.disabled);
            if let Some(role) = &change.role {
                user.role = role.clone();
            }
            user.clone()
        };
        if change.disabled == Some(true) {
            self.revoke_where(RevokeReason::LogoutAll, |s| s.user_id == user_id);
        }
        self.record_events(&[NewEvent {
            user_id: user_id.into(),
            kind: EventKind::AdminUpdate,
            client: client.clone(),
            session_id: None,
        }])?;
        Ok(Some(updated))
    }

    fn admin_logout_all(&self, user_id: &str, client: &Client) -> Result<bool, StoreError> {
        if self.user_by_id(user_id).is_none() {
            return Ok(false);
        }
        self.revoke_where(RevokeReason::LogoutAll, |s| s.user_id == user_id);
        self.record_events(&[NewEvent {
            user_id: user_id.into(),
            kind: EventKind::AdminLogoutAll,
            client: client.clone(),
            session_id: None,
        }])?;
        Ok(true)
    }

    fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool, StoreError> {
        let mut tokens = self.mfa_tokens.borrow_mut();
        let Some(token) = tokens.iter_mut().find(|t| t.digest == digest && !t.spent) else {
            return Ok(false);
        };
        token.spent = true;
        Ok(true)
    }
}
