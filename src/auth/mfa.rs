//! Two-factor login (docs/API.md, Two-factor): enrolling a TOTP factor,
//! confirming it (which hands out the recovery codes), checking a code
//! (TOTP or recovery, each accepted once), and the second step of a login
//! (`mfa_token`). The secret is sealed at rest (`secret_box`); what must
//! not pass twice is decided by one conditional statement of the store.

use sha2::{Digest, Sha256};

use super::login::record_failure;
use super::secret_box::{self, SecretKey};
use super::{refresh, totp};
use crate::error::{ConfigError, StoreError};
use crate::log;
use crate::store::{Client, EventKind, FactorConfirmation, NewMfaToken, Store, Throttle, User};

/// How long the second step of a login may wait for its code.
pub const MFA_TOKEN_LIFETIME_SECS: u64 = 300;
/// Recovery codes handed out at confirmation.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (base32: 5 bits each, 100 bits in all).
const RECOVERY_CODE_CHARS: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum MfaError {
    Store(StoreError),
    /// A sealed secret that no configured key opens, or no key at all.
    Key(ConfigError),
    /// The OS random source failed.
    Random,
}

impl From<StoreError> for MfaError {
    fn from(error: StoreError) -> Self {
        MfaError::Store(error)
    }
}

/// The keys that seal TOTP secrets: the current one first, then the
/// previous ones (which only open).
#[derive(Debug, Clone, PartialEq)]
pub struct MfaKeys {
    pub current: SecretKey,
    pub previous: Vec<SecretKey>,
}

impl MfaKeys {
    fn all(&self) -> Vec<SecretKey> {
        let mut keys = vec![self.current.clone()];
        keys.extend(self.previous.iter().cloned());
        keys
    }
}

/// What the user puts into an authenticator app.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    /// Base32, 160 bits.
    pub secret: String,
    pub otpauth_url: String,
}

/// Starts (or restarts) enrollment: a new pending factor. `None` when
/// two-factor is already on.
pub fn enroll(
    store: &dyn Store,
    keys: &MfaKeys,
    issuer: &str,
    user: &User,
) -> Result<Option<Enrollment>, MfaError> {
    let secret = totp::new_secret().map_err(|_| MfaError::Random)?;
    let sealed = seal(&keys.current, &user.id, &secret)?;
    if !store.save_pending_factor(&user.id, &sealed)? {
        return Ok(None);
    }
    Ok(Some(Enrollment {
        secret: totp::encode_secret(&secret),
        otpauth_url: totp::otpauth_url(issuer, &user.email, &secret),
    }))
}

/// Confirms the pending factor with a current code: two-factor is on, the
/// user's other sessions are revoked, and the recovery codes are returned
/// (only their digests are kept). `None` for no pending factor or a wrong
/// code.
pub fn confirm(
    store: &dyn Store,
    keys: &MfaKeys,
    user: &User,
    session_id: &str,
    code: &str,
    now_unix_secs: u64,
    client: &Client,
) -> Result<Option<Vec<String>>, MfaError> {
    let Some(AcceptedTotp { step, reseal }) =
        accepted_totp(store, keys, &user.id, false, code, now_unix_secs)?
    else {
        return Ok(None);
    };
    let codes = recovery_codes()?;
    let confirmed = store.confirm_factor(&FactorConfirmation {
        user_id: user.id.clone(),
        step,
        reseal,
        recovery_digests: codes.iter().map(|c| recovery_digest(c)).collect(),
        keep_session: session_id.to_owned(),
        client: client.clone(),
    })?;
    if !confirmed {
        return Ok(None);
    }
    log::security(&format!(
        "two-factor enabled: other sessions revoked user_id={} session_id={session_id}",
        user.id
    ));
    Ok(Some(codes))
}

/// Checks and spends a code of a user whose two-factor is on: a TOTP code
/// of a step later than the last accepted one, or an unused recovery code.
pub fn spend_code(
    store: &dyn Store,
    keys: &MfaKeys,
    user_id: &str,
    code: &str,
    now_unix_secs: u64,
) -> Result<bool, MfaError> {
    if !totp::is_totp_code(code) {
        return Ok(store.use_recovery_code(user_id, &recovery_digest(code))?);
    }
    let Some(AcceptedTotp { step, reseal }) =
        accepted_totp(store, keys, user_id, true, code, now_unix_secs)?
    else {
        return Ok(false);
    };
    Ok(store.accept_totp_step(user_id, step, reseal.as_deref())?)
}

/// A TOTP code that checked out: its time step, and the secret sealed
/// again when an older key opened it.
struct AcceptedTotp {
    step: u64,
    reseal: Option<Vec<u8>>,
}

/// The TOTP `code` for the user's factor (`confirmed` or pending, as
/// asked), if it is current and later than the last accepted step.
/// Nothing is spent here.
fn accepted_totp(
    store: &dyn Store,
    keys: &MfaKeys,
    user_id: &str,
    confirmed: bool,
    code: &str,
    now_unix_secs: u64,
) -> Result<Option<AcceptedTotp>, MfaError> {
    let Some(factor) = store
        .mfa_factor(user_id)?
        .filter(|f| f.confirmed == confirmed)
    else {
        return Ok(None);
    };
    let opened = open(keys, user_id, &factor.sealed_secret)?;
    let Some(step) = totp::accepted_step(&opened.secret, code, now_unix_secs, factor.last_step)
    else {
        return Ok(None);
    };
    let reseal = reseal_if_due(keys, user_id, &opened)?;
    Ok(Some(AcceptedTotp { step, reseal }))
}

/// A code given where two-factor asks for one (`None`: none was given).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CodeCheck {
    /// Spent: it will not pass again.
    Accepted,
    /// Missing, wrong or already used: counted as a failed login.
    Wrong,
    /// The email was locked before this try could count.
    Locked { retry_after_secs: u64 },
}

/// Spends `code`, or counts its failure as a failed login of the user's
/// email (an `mfa_failed` event, and `login_locked` when it locked the
/// email). Clearing the count after a success is the caller's: a login
/// clears it only once its `mfa_token` is spent too.
pub fn check_code(
    store: &dyn Store,
    keys: &MfaKeys,
    throttle: Throttle,
    user: &User,
    code: Option<&str>,
    now_unix_secs: u64,
    client: &Client,
) -> Result<CodeCheck, MfaError> {
    if let Some(code) = code {
        if spend_code(store, keys, &user.id, code, now_unix_secs)? {
            return Ok(CodeCheck::Accepted);
        }
    }
    Ok(match count_wrong_code(store, throttle, user, client)? {
        Some(retry_after_secs) => CodeCheck::Locked { retry_after_secs },
        None => CodeCheck::Wrong,
    })
}

/// `Some(seconds)` when the email was already locked.
fn count_wrong_code(
    store: &dyn Store,
    throttle: Throttle,
    user: &User,
    client: &Client,
) -> Result<Option<u64>, StoreError> {
    let attempt = store.begin_login_attempt(&user.email, throttle)?;
    if let Some(retry_after_secs) = attempt.locked_for_secs {
        return Ok(Some(retry_after_secs));
    }
    record_failure(store, user, EventKind::MfaFailed, attempt.sets_lock, client)?;
    Ok(None)
}

/// The second step of a login whose password checked out: a new
/// `mfa_token` (only its digest is stored).
pub fn start_second_step(
    store: &dyn Store,
    user: &User,
    client: &Client,
) -> Result<String, MfaError> {
    let token = refresh::generate().map_err(|_| MfaError::Random)?;
    store.create_mfa_token(&NewMfaToken {
        digest: refresh::digest(&token),
        user_id: user.id.clone(),
        lifetime_secs: MFA_TOKEN_LIFETIME_SECS,
        client: client.clone(),
    })?;
    Ok(token)
}

#[derive(Debug, Clone, PartialEq)]
pub enum SecondStep {
    /// Unknown, expired, spent, dead (5 wrong codes), or its user is gone.
    InvalidToken,
    /// The email is locked: nothing was checked.
    Locked {
        retry_after_secs: u64,
    },
    /// Counted as a failed login (and against the token).
    WrongCode,
    LoggedIn(User),
}

/// `POST /api/auth/login/mfa`: the lock first, then the token, then the
/// code; spending the token decides a race between parallel tries. Only
/// this success clears the email's failed logins.
pub fn finish_login(
    store: &dyn Store,
    keys: &MfaKeys,
    throttle: Throttle,
    mfa_token: &str,
    code: &str,
    now_unix_secs: u64,
    client: &Client,
) -> Result<SecondStep, MfaError> {
    let digest = refresh::digest(mfa_token);
    let Some((user, live)) = store
        .find_mfa_token(&digest)?
        .and_then(|t| Some((t.user?, t.live)))
    else {
        return Ok(SecondStep::InvalidToken);
    };
    if let Some(retry_after_secs) = store.login_lock(&user.email)? {
        return Ok(SecondStep::Locked { retry_after_secs });
    }
    // Disabling an account kills its mfa_tokens; one read just before is
    // refused here.
    if !live || user.disabled {
        return Ok(SecondStep::InvalidToken);
    }
    match check_code(
        store,
        keys,
        throttle,
        &user,
        Some(code),
        now_unix_secs,
        client,
    )? {
        CodeCheck::Accepted => {}
        CodeCheck::Wrong => {
            store.count_mfa_token_failure(&digest)?;
            return Ok(SecondStep::WrongCode);
        }
        CodeCheck::Locked { retry_after_secs } => {
            store.count_mfa_token_failure(&digest)?;
            return Ok(SecondStep::Locked { retry_after_secs });
        }
    }
    if !store.spend_mfa_token(&digest)? {
        return Ok(SecondStep::InvalidToken);
    }
    store.clear_login_attempts(&user.email)?;
    Ok(SecondStep::LoggedIn(user))
}

fn seal(key: &SecretKey, user_id: &str, secret: &[u8]) -> Result<Vec<u8>, MfaError> {
    secret_box::seal(key, user_id, secret).map_err(|_| MfaError::Random)
}

fn open(keys: &MfaKeys, user_id: &str, sealed: &[u8]) -> Result<secret_box::Opened, MfaError> {
    secret_box::open(&keys.all(), user_id, sealed).ok_or_else(|| {
        MfaError::Key(ConfigError {
            variable: "mfa_encryption_key",
            problem: format!(
                "the two-factor secret of user {user_id} opens neither with it nor with \
                 mfa_previous_encryption_keys"
            ),
        })
    })
}

/// The secret sealed again under the current key, when an older one opened it.
fn reseal_if_due(
    keys: &MfaKeys,
    user_id: &str,
    opened: &secret_box::Opened,
) -> Result<Option<Vec<u8>>, MfaError> {
    if !opened.needs_reseal {
        return Ok(None);
    }
    log::info(&format!(
        "two-factor secret of user {user_id} sealed again under the current mfa_encryption_key"
    ));
    seal(&keys.current, user_id, &opened.secret).map(Some)
}

/// Ten fresh recovery codes, `XXXXX-XXXXX-XXXXX-XXXXX` (100 random bits each).
fn recovery_codes() -> Result<Vec<String>, MfaError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_CHARS * 5 / 8];
            getrandom::fill(&mut bytes).map_err(|_| MfaError::Random)?;
            let plain = totp::encode_secret(&bytes);
            let groups: Vec<&str> = (0..plain.len())
                .step_by(5)
                .map(|i| &plain[i..(i + 5).min(plain.len())])
                .collect();
            Ok(groups.join("-"))
        })
        .collect()
}

/// What is stored of a recovery code: the SHA-256 of its letters and
/// digits, upper-cased (so `abcde-fghij…` typed by hand matches).
pub fn recovery_digest(code: &str) -> Vec<u8> {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalized.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fake_store::{user, FakeSession, FakeStore};

    const NOW: u64 = 1_700_000_000;
    const THROTTLE: Throttle = Throttle {
        max_failures: 5,
        window_secs: 900,
    };

    fn keys() -> MfaKeys {
        MfaKeys {
            current: SecretKey::from_bytes(&[7; 32]).unwrap(),
            previous: Vec::new(),
        }
    }

    fn ada() -> User {
        user("u1", "ada@example.com", "hash", true)
    }

    fn secret_of(store: &FakeStore, keys: &MfaKeys) -> Vec<u8> {
        let factor = store.mfa_factor("u1").unwrap().unwrap();
        secret_box::open(&keys.all(), "u1", &factor.sealed_secret)
            .unwrap()
            .secret
    }

    fn code(secret: &[u8], at: u64) -> String {
        totp::code_at(secret, at, 6).unwrap()
    }

    /// A store where "u1" has two-factor on (confirmed at NOW), and its codes.
    fn enrolled(keys: &MfaKeys) -> (FakeStore, Vec<u8>, Vec<String>) {
        let store = FakeStore::with_users(vec![ada()]);
        store.add_session(FakeSession::new("s1", "u1", vec![1]));
        store.add_session(FakeSession::new("s2", "u1", vec![2]));
        enroll(&store, keys, "spin-auth", &ada()).unwrap().unwrap();
        let secret = secret_of(&store, keys);
        let codes = confirm(
            &store,
            keys,
            &ada(),
            "s1",
            &code(&secret, NOW),
            NOW,
            &Client::default(),
        )
        .unwrap()
        .unwrap();
        (store, secret, codes)
    }

    #[test]
    fn enrolling_seals_the_secret_and_shows_it_once() {
        let store = FakeStore::with_users(vec![ada()]);
        let enrollment = enroll(&store, &keys(), "spin-auth", &ada())
            .unwrap()
            .unwrap();
        let secret = secret_of(&store, &keys());
        assert_eq!(enrollment.secret, totp::encode_secret(&secret));
        assert!(enrollment
            .otpauth_url
            .starts_with("otpauth://totp/spin-auth:ada%40example.com?secret="));
        let sealed = store.mfa_factor("u1").unwrap().unwrap().sealed_secret;
        assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    }

    #[test]
    fn confirming_turns_it_on_revokes_other_sessions_and_gives_ten_codes() {
        let (store, _, codes) = enrolled(&keys());
        assert_eq!(codes.len(), 10);
        assert!(codes
            .iter()
            .all(|c| c.len() == 23 && c.matches('-').count() == 3));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert!(store.mfa_factor("u1").unwrap().unwrap().confirmed);
        assert!(store.session("s1").revoked.is_none(), "the caller's stays");
        assert!(store.session("s2").revoked.is_some());
        assert_eq!(store.recovery_codes.borrow().len(), 10);
        assert!(store
            .recovery_codes
            .borrow()
            .iter()
            .all(|(digest, _, _)| codes.iter().all(|c| c.as_bytes() != digest.as_slice())));
        assert_eq!(enroll(&store, &keys(), "spin-auth", &ada()).unwrap(), None);
    }

    #[test]
    fn a_wrong_code_confirms_nothing() {
        let store = FakeStore::with_users(vec![ada()]);
        enroll(&store, &keys(), "i", &ada()).unwrap();
        let secret = secret_of(&store, &keys());
        let stale = code(&secret, NOW - 90);
        let confirmed = confirm(
            &store,
            &keys(),
            &ada(),
            "s1",
            &stale,
            NOW,
            &Client::default(),
        );
        assert_eq!(confirmed.unwrap(), None);
        assert!(!store.mfa_factor("u1").unwrap().unwrap().confirmed);
        let none = FakeStore::with_users(vec![ada()]);
        let confirmed = confirm(
            &none,
            &keys(),
            &ada(),
            "s1",
            "123456",
            NOW,
            &Client::default(),
        );
        assert_eq!(confirmed.unwrap(), None, "no pending factor");
    }

    #[test]
    fn a_code_is_spent_once_and_the_confirming_step_cannot_be_replayed() {
        let (store, secret, _) = enrolled(&keys());
        let confirming = code(&secret, NOW);
        assert!(!spend_code(&store, &keys(), "u1", &confirming, NOW).unwrap());
        let next = code(&secret, NOW + 30);
        assert!(spend_code(&store, &keys(), "u1", &next, NOW + 30).unwrap());
        assert!(!spend_code(&store, &keys(), "u1", &next, NOW + 30).unwrap());
    }

    #[test]
    fn a_recovery_code_works_once_typed_in_any_case() {
        let (store, _, codes) = enrolled(&keys());
        let typed = codes[3].to_lowercase().replace('-', " ");
        assert!(spend_code(&store, &keys(), "u1", &typed, NOW).unwrap());
        assert!(!spend_code(&store, &keys(), "u1", &codes[3], NOW).unwrap());
        assert!(!spend_code(&store, &keys(), "u1", "AAAAA-AAAAA-AAAAA-AAAAA", NOW).unwrap());
    }

    #[test]
    fn a_secret_under_a_previous_key_opens_and_is_sealed_again() {
        let old = keys();
        let (store, secret, _) = enrolled(&old);
        let rotated = MfaKeys {
            current: SecretKey::from_bytes(&[9; 32]).unwrap(),
            previous: vec![old.current.clone()],
        };
        assert!(spend_code(&store, &rotated, "u1", &code(&secret, NOW + 30), NOW + 30).unwrap());
        let only_new = MfaKeys {
            current: rotated.current.clone(),
            previous: Vec::new(),
        };
        assert_eq!(
            secret_of(&store, &only_new),
            secret,
            "re-sealed under the new key"
        );
        let lost = MfaKeys {
            current: SecretKey::from_bytes(&[1; 32]).unwrap(),
            previous: Vec::new(),
        };
        let refused = spend_code(&store, &lost, "u1", &code(&secret, NOW + 60), NOW + 60);
        assert!(matches!(refused, Err(MfaError::Key(e)) if e.variable == "mfa_encryption_key"));
    }

    fn try_code(store: &FakeStore, mfa_token: &str, code: &str, at: u64) -> SecondStep {
        let client = Client::default();
        finish_login(store, &keys(), THROTTLE, mfa_token, code, at, &client).unwrap()
    }

    #[test]
    fn the_second_step_spends_its_token_once_and_clears_the_count() {
        let (store, secret, _) = enrolled(&keys());
        let token = start_second_step(&store, &ada(), &Client::default()).unwrap();
        let finish = |code: &str, at: u64| try_code(&store, &token, code, at);
        assert_eq!(finish("000000", NOW + 30), SecondStep::WrongCode);
        assert_eq!(
            store.mfa_tokens.borrow()[0].failures,
            1,
            "counted against the token"
        );
        assert_eq!(*store.counted.borrow(), ["ada@example.com"]);
        assert!(store.cleared.borrow().is_empty());
        let kinds: Vec<_> = store.events.borrow().iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&EventKind::MfaFailed));
        assert!(matches!(
            finish(&code(&secret, NOW + 30), NOW + 30),
            SecondStep::LoggedIn(u) if u.id == "u1"
        ));
        assert_eq!(*store.cleared.borrow(), ["ada@example.com"]);
        assert_eq!(
            finish(&code(&secret, NOW + 60), NOW + 60),
            SecondStep::InvalidToken,
            "spent"
        );
        assert_eq!(
            try_code(&store, "nope", "123456", NOW),
            SecondStep::InvalidToken
        );
    }

    #[test]
    fn five_wrong_codes_kill_the_token_and_a_lock_answers_first() {
        let (store, secret, _) = enrolled(&keys());
        let token = start_second_step(&store, &ada(), &Client::default()).unwrap();
        let finish = |code: &str| try_code(&store, &token, code, NOW + 30);
        for _ in 0..5 {
            assert_eq!(finish("000000"), SecondStep::WrongCode);
        }
        assert_eq!(finish(&code(&secret, NOW + 30)), SecondStep::InvalidToken);
        store.locked_for_secs.set(Some(60));
        assert_eq!(
            finish("000000"),
            SecondStep::Locked {
                retry_after_secs: 60
            }
        );
    }
}
