//! The account flows (docs/API.md, Accounts): one-time tokens sent by email
//! (verification, password reset), the re-check of the password before a
//! sensitive change, password changes and account deletion. Each change is
//! one statement of the store (`Store::apply_account_change`), so two
//! requests racing with one token get one success.

use super::login::record_failure;
use super::{passwords, refresh};
use crate::config::LinkTemplate;
use crate::email::{Email, EmailKind, EmailToken, Mailer};
use crate::error::StoreError;
use crate::log;
use crate::store::{
    AccountChange, ChangeProof, Client, EventKind, Store, Throttle, TokenKind, TokenRequest, User,
};

/// Verification and reset emails per address in any rolling hour.
pub const EMAILS_PER_HOUR: u64 = 3;

/// How a kind of one-time token is minted and linked.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEmail {
    pub kind: TokenKind,
    pub lifetime_secs: u64,
    pub link: LinkTemplate,
}

/// Mints a one-time token for the user registered as `email` and emails
/// its link. Nothing is minted (and nothing sent) for an unknown address,
/// for a verification of a user already verified, past the hourly limit,
/// or with no hook configured: the caller answers the same in every case.
pub fn send_token_email(
    store: &dyn Store,
    mailer: &Mailer,
    flow: &TokenEmail,
    email: &str,
    client: &Client,
) -> Result<(), StoreError> {
    if !mailer.can_send() {
        log::info(&format!(
            "no {} token minted: email_webhook_url is empty",
            flow.kind.as_str()
        ));
        return Ok(());
    }
    let token = refresh::generate().map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let (only_unverified, event, kind) = match flow.kind {
        TokenKind::EmailVerification => (true, None, EmailKind::Verification),
        TokenKind::PasswordReset => (
            false,
            Some(EventKind::PasswordResetRequested),
            EmailKind::PasswordReset,
        ),
    };
    let minted = store.mint_token(&TokenRequest {
        email,
        kind: flow.kind,
        digest: refresh::digest(&token),
        lifetime_secs: flow.lifetime_secs,
        only_unverified,
        max_per_hour: EMAILS_PER_HOUR,
        event,
        client,
    })?;
    if let Some(minted) = minted {
        mailer.send(&Email {
            kind,
            user: minted.user,
            token: Some(EmailToken {
                link: flow.link.with_token(&token),
                token,
                expires_at_us: minted.expires_at_us,
            }),
        });
    }
    Ok(())
}

/// Spends a verification token: `false` when it is not an open one.
pub fn verify_email(
    store: &dyn Store,
    token: &str,
    admin_emails: Vec<String>,
    client: &Client,
) -> Result<bool, StoreError> {
    let verified = store.apply_account_change(&AccountChange {
        proof: ChangeProof::Token {
            digest: refresh::digest(token),
            kind: TokenKind::EmailVerification,
        },
        new_password_hash: None,
        admin_emails,
        event: EventKind::EmailVerified,
        client: client.clone(),
    })?;
    if let Some(user) = &verified {
        log::info(&format!("email verified user_id={}", user.id));
    }
    Ok(verified.is_some())
}

/// Spends a reset token and sets the new password (revoking every session,
/// spending every open token, clearing the email's failed logins); then
/// sends the `email.password_changed` notice. `false` for a token that is
/// not an open reset token.
pub fn reset_password(
    store: &dyn Store,
    mailer: &Mailer,
    token: &str,
    new_password: &str,
    admin_emails: Vec<String>,
    client: &Client,
) -> Result<bool, StoreError> {
    let change = AccountChange {
        proof: ChangeProof::Token {
            digest: refresh::digest(token),
            kind: TokenKind::PasswordReset,
        },
        new_password_hash: Some(hash(new_password)?),
        admin_emails,
        event: EventKind::PasswordReset,
        client: client.clone(),
    };
    let Some(user) = store.apply_account_change(&change)? else {
        return Ok(false);
    };
    log::security(&format!(
        "password reset: every session revoked user_id={} ip={}",
        user.id,
        client.ip.as_deref().unwrap_or("-")
    ));
    send_password_changed(mailer, user);
    Ok(true)
}

/// A signed-in user's password change: every other session is revoked,
/// the caller's stays. `false` when the user is gone.
pub fn change_password(
    store: &dyn Store,
    mailer: &Mailer,
    user: &User,
    session_id: &str,
    new_password: &str,
    client: &Client,
) -> Result<bool, StoreError> {
    let change = AccountChange {
        proof: ChangeProof::Session {
            user_id: user.id.clone(),
            session_id: session_id.to_owned(),
        },
        new_password_hash: Some(hash(new_password)?),
        admin_emails: Vec::new(),
        event: EventKind::PasswordChanged,
        client: client.clone(),
    };
    let Some(user) = store.apply_account_change(&change)? else {
        return Ok(false);
    };
    log::security(&format!(
        "password changed: other sessions revoked user_id={} session_id={session_id}",
        user.id
    ));
    send_password_changed(mailer, user);
    Ok(true)
}

fn send_password_changed(mailer: &Mailer, user: User) {
    mailer.send(&Email {
        kind: EmailKind::PasswordChanged,
        user,
        token: None,
    });
}

fn hash(password: &str) -> Result<String, StoreError> {
    passwords::hash(password).map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// The password re-checked before a sensitive change of a signed-in user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reauth {
    /// The email is locked by failed logins: nothing was checked.
    Locked {
        retry_after_secs: u64,
    },
    /// Counted as a failed login of the email.
    WrongPassword,
    Confirmed,
}

/// Checks `password` for `user` as a login would: counted against the
/// email's throttle, so a stolen access token cannot guess passwords
/// without limit; the right one clears the count.
pub fn reauthenticate(
    store: &dyn Store,
    throttle: Throttle,
    user: &User,
    password: &str,
    client: &Client,
) -> Result<Reauth, StoreError> {
    let attempt = store.begin_login_attempt(&user.email, throttle)?;
    if let Some(retry_after_secs) = attempt.locked_for_secs {
        return Ok(Reauth::Locked { retry_after_secs });
    }
    // The hash as stored now (a change that just happened counts).
    let current = attempt.user.as_ref().unwrap_or(user);
    if !passwords::verify(password, &current.password_hash) {
        record_failure(
            store,
            current,
            EventKind::LoginFailed,
            attempt.sets_lock,
            client,
        )?;
        return Ok(Reauth::WrongPassword);
    }
    // With two-factor on, the password alone proves too little to clear the
    // count: the code that follows it does (`mfa::spend_code`'s caller).
    if !store.mfa_enabled(&current.id)? {
        store.clear_login_attempts(&user.email)?;
    }
    Ok(Reauth::Confirmed)
}

/// Deletes the account (its password re-checked by the caller).
pub fn delete_account(store: &dyn Store, user: &User, client: &Client) -> Result<bool, StoreError> {
    let deleted = store.delete_user(&user.id)?;
    if deleted {
        log::security(&format!(
            "account deleted user_id={} ip={}",
            user.id,
            client.ip.as_deref().unwrap_or("-")
        ));
    }
    Ok(deleted)
}
