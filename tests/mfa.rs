//! Two-factor login (TOTP) end to end: enrolling with the otpauth secret,
//! confirming (recovery codes, other sessions revoked), the two-step login
//! and its `amr`, replay, recovery codes, races, the lockout, disabling,
//! account deletion with a code, the secret at rest and key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::authenticator::{code, code_at, decode_secret, unix_now};
use common::*;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

/// `mfa_encryption_key` of the tests (32 bytes of 0x01) and another one.
const KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const OTHER_KEY: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn with_key() -> ServiceBuilder {
    Service::builder().var("mfa_encryption_key", KEY)
}

fn send(
    service: &Service,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> Response {
    service
        .plain()
        .request(method, service.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap()
}

fn enroll(service: &Service, token: &str) -> Response {
    send(
        service,
        reqwest::Method::POST,
        "/api/users/me/mfa/totp",
        token,
        json!({"password": PASSWORD}),
    )
}

fn confirm(service: &Service, token: &str, code: &str) -> Response {
    send(
        service,
        reqwest::Method::POST,
        "/api/users/me/mfa/totp/confirm",
        token,
        json!({"code": code}),
    )
}

fn password_login(service: &Service, client: &Client, email: &str) -> Response {
    post_json(
        client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
}

/// The `mfa_token` of a login that asks for the code.
fn first_step(service: &Service, email: &str) -> String {
    let response = password_login(service, &service.plain(), email);
    assert_eq!(response.status(), 200);
    assert!(
        set_cookies(&response).is_empty(),
        "no cookie before the code"
    );
    let body: Value = response.json().unwrap();
    assert_eq!(body["status"], "mfa_required");
    body["mfa_token"].as_str().unwrap().to_owned()
}

fn second_step(service: &Service, client: &Client, mfa_token: &str, code: &str) -> Response {
    post_json(
        client,
        &service.url("/api/auth/login/mfa"),
        &json!({"mfa_token": mfa_token, "code": code}),
    )
}

struct Enrolled {
    email: String,
    /// The access token of the session that enrolled.
    token: String,
    secret: Vec<u8>,
    recovery_codes: Vec<String>,
    /// The Unix time whose code confirmed the factor.
    confirmed_at: u64,
}

/// Registers, logs in, enrolls and confirms with the current code.
fn enrolled(service: &Service) -> Enrolled {
    let (email, body, _) = register_and_login(service, &service.browser());
    let token = access_token(&body);
    let enrollment: Value = enroll(service, &token).json().unwrap();
    let secret = decode_secret(enrollment["secret"].as_str().unwrap());
    let confirmed_at = unix_now();
    let confirmed = confirm(service, &token, &code_at(&secret, confirmed_at));
    assert_eq!(confirmed.status(), 200);
    let body: Value = confirmed.json().unwrap();
    let recovery_codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        email,
        token,
        secret,
        recovery_codes,
        confirmed_at,
    }
}

/// Lets the factor accept codes of the current step again (as if the last
/// one had been accepted a few minutes ago), for tests that use several
/// TOTP codes within one 30-second step.
fn forget_last_step(service: &Service) {
    service
        .db
        .execute("UPDATE mfa_factors SET last_step = last_step - 10");
}

#[test]
fn enrolling_with_an_authenticator_app_then_logging_in_takes_the_code() {
    let service = with_key().var("mfa_issuer", "Acme & Co").start();
    let (email, body, _) = register_and_login(&service, &service.browser());
    let token = access_token(&body);
    let response = enroll(&service, &token);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let enrollment: Value = response.json().unwrap();
    let secret = enrollment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits of base32");
    let label = email.replace('@', "%40");
    assert_eq!(
        enrollment["otpauth_url"],
        format!(
            "otpauth://totp/Acme%20%26%20Co:{label}?secret={secret}&issuer=Acme%20%26%20Co\
             &algorithm=SHA1&digits=6&period=30"
        )
    );
    // Pending: a password login is still one step.
    let plain = password_login(&service, &service.plain(), &email);
    assert_eq!(plain.json::<Value>().unwrap()["status"], "success");
    let secret = decode_secret(secret);
    let (status, detail) = common::detail(confirm(&service, &token, "000000"));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    assert_eq!(confirm(&service, &token, &code(&secret, 0)).status(), 200);
    let (status, detail) = common::detail(enroll(&service, &token));
    assert_eq!(
        (status, detail),
        (409, json!("Two-factor authentication is already enabled"))
    );

    let mfa_token = first_step(&service, &email);
    let browser = service.browser();
    let response = second_step(&service, &browser, &mfa_token, &code(&secret, 1));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    for name in ["access_token", "refresh_token", "logged_in"] {
        cookie(&cookies, name);
    }
    let body: Value = response.json().unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(
        jwt_part(&access_token(&body), 1)["amr"],
        json!(["pwd", "otp"])
    );
    let me = browser.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(me.json::<Value>().unwrap()["email"], email);
    // A refresh keeps the session's amr.
    let refreshed: Value = browser
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        jwt_part(refreshed["access_token"].as_str().unwrap(), 1)["amr"],
        json!(["pwd", "otp"])
    );
    // The password-only session that enrolled says so.
    assert_eq!(jwt_part(&token, 1)["amr"], json!(["pwd"]));
    let events = event_types(&service, &token);
    assert_eq!(events[..2], ["login", "mfa_enabled"]);
}

#[test]
fn confirming_revokes_every_session_from_before_but_the_callers() {
    let service = with_key().start();
    let browser = service.browser();
    let (email, body, _) = register_and_login(&service, &browser);
    let token = access_token(&body);
    let other = service.browser();
    login(&service, &other, &email);
    assert_eq!(refresh_status(&service, &other), 200);
    let enrollment: Value = enroll(&service, &token).json().unwrap();
    let secret = decode_secret(enrollment["secret"].as_str().unwrap());
    // A code one step old is still accepted (clock skew).
    assert_eq!(confirm(&service, &token, &code(&secret, -1)).status(), 200);
    assert_eq!(refresh_status(&service, &other), 401, "revoked");
    let me = other.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(
        refresh_status(&service, &browser),
        200,
        "the caller's stays"
    );
}

#[test]
fn a_code_is_refused_when_replayed_and_two_steps_away() {
    let service = with_key().start();
    let user = enrolled(&service);
    // The confirming code's step was used: its replay is refused (the
    // code of that instant, even if the clock has moved on a step since).
    let mfa_token = first_step(&service, &user.email);
    let (status, detail) = common::detail(second_step(
        &service,
        &service.plain(),
        &mfa_token,
        &code_at(&user.secret, user.confirmed_at),
    ));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    let far = code(&user.secret, 3);
    let (status, _) = common::detail(second_step(&service, &service.plain(), &mfa_token, &far));
    assert_eq!(status, 400);
    let next = code(&user.secret, 1);
    assert_eq!(
        second_step(&service, &service.plain(), &mfa_token, &next).status(),
        200
    );
    // Once accepted, that code is refused with a fresh mfa_token too.
    let again = first_step(&service, &user.email);
    let (status, _) = common::detail(second_step(&service, &service.plain(), &again, &next));
    assert_eq!(status, 400);
}

#[test]
fn a_recovery_code_logs_in_once() {
    let service = with_key().start();
    let user = enrolled(&service);
    assert_eq!(user.recovery_codes.len(), 10);
    let distinct: std::collections::HashSet<_> = user.recovery_codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    let recovery = &user.recovery_codes[0];
    // At least 80 random bits: 20 base32 characters.
    assert!(recovery.chars().filter(char::is_ascii_alphanumeric).count() >= 16);
    let mfa_token = first_step(&service, &user.email);
    let typed = recovery.to_lowercase();
    let response = second_step(&service, &service.plain(), &mfa_token, &typed);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(
        jwt_part(&access_token(&body), 1)["amr"],
        json!(["pwd", "otp"])
    );
    let again = first_step(&service, &user.email);
    let (status, detail) =
        common::detail(second_step(&service, &service.plain(), &again, recovery));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    let other = &user.recovery_codes[1];
    assert_eq!(
        second_step(&service, &service.plain(), &again, other).status(),
        200
    );
    // Stored hashed: neither the codes nor the secret are in the database.
    let plain_codes = service.db.query_i64(&format!(
        "SELECT count(*) FROM mfa_recovery_codes WHERE {}",
        service
            .db
            .bytes_contain("code_hash", &recovery.replace('-', ""))
    ));
    assert_eq!(plain_codes, 0);
    assert_eq!(
        service
            .db
            .query_i64("SELECT count(*) FROM mfa_recovery_codes"),
        10
    );
    let secret = String::from_utf8_lossy(&user.secret[..8]).into_owned();
    if secret.chars().all(|c| c.is_ascii_alphanumeric()) {
        let found = service.db.query_i64(&format!(
            "SELECT count(*) FROM mfa_factors WHERE {}",
            service.db.bytes_contain("sealed_secret", &secret)
        ));
        assert_eq!(found, 0);
    }
}

#[test]
fn parallel_tries_with_one_mfa_token_log_in_once() {
    // The losers' replayed code counts as a failed login each: room for them.
    let service = with_key().var("login_max_failures", "100").start();
    let user = enrolled(&service);
    for round in 0..3 {
        forget_last_step(&service);
        let mfa_token = first_step(&service, &user.email);
        let next = code(&user.secret, 0);
        let statuses = statuses_in_parallel(6, || {
            second_step(&service, &service.plain(), &mfa_token, &next)
        });
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        // Two different recovery codes with one token: one login.
        let mfa_token = first_step(&service, &user.email);
        let codes = [
            &user.recovery_codes[2 * round],
            &user.recovery_codes[2 * round + 1],
        ];
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = codes
                .iter()
                .map(|c| {
                    let token = mfa_token.clone();
                    let service = &service;
                    scope.spawn(move || {
                        second_step(service, &service.plain(), &token, c)
                            .status()
                            .as_u16()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
    }
    let sessions = service
        .db
        .query_i64("SELECT count(*) FROM sessions WHERE amr = 'pwd otp'");
    assert_eq!(sessions, 6);
}

#[test]
fn a_stolen_mfa_token_fails_after_five_minutes_after_use_and_after_five_wrong_codes() {
    let service = with_key().var("login_max_failures", "20").start();
    let user = enrolled(&service);
    let expired = first_step(&service, &user.email);
    service.db.execute(&format!(
        "UPDATE mfa_tokens SET expires_at = {}",
        service.db.seconds_ago(1)
    ));
    let (status, detail) = common::detail(second_step(
        &service,
        &service.plain(),
        &expired,
        &code(&user.secret, 1),
    ));
    assert_eq!((status, detail), (401, json!("Invalid or expired token")));

    let used = first_step(&service, &user.email);
    assert_eq!(
        second_step(&service, &service.plain(), &used, &code(&user.secret, 1)).status(),
        200
    );
    forget_last_step(&service);
    let (status, _) = common::detail(second_step(
        &service,
        &service.plain(),
        &used,
        &code(&user.secret, 0),
    ));
    assert_eq!(status, 401, "used twice");

    let guessed = first_step(&service, &user.email);
    for _ in 0..5 {
        let (status, _) =
            common::detail(second_step(&service, &service.plain(), &guessed, "000000"));
        assert_eq!(status, 400);
    }
    forget_last_step(&service);
    let (status, _) = common::detail(second_step(
        &service,
        &service.plain(),
        &guessed,
        &code(&user.secret, 0),
    ));
    assert_eq!(status, 401, "dead after 5 wrong codes");
    for unknown in ["not-a-token", "x"] {
        let (status, _) =
            common::detail(second_step(&service, &service.plain(), unknown, "123456"));
        assert_eq!(status, 401);
    }
    let events = event_types(&service, &user.token);
    assert_eq!(events.iter().filter(|e| *e == "mfa_failed").count(), 5);
}

#[test]
fn wrong_codes_lock_the_email_and_the_right_password_alone_clears_nothing() {
    let service = with_key().var("login_max_failures", "3").start();
    let user = enrolled(&service);
    // A wrong password, then the right one (counted, not cleared), then a
    // wrong code: the third failure within the window locks the email.
    let wrong = post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": user.email, "password": "not the password"}),
    );
    assert_eq!(wrong.status(), 400);
    let mfa_token = first_step(&service, &user.email);
    let (status, _) = common::detail(second_step(
        &service,
        &service.plain(),
        &mfa_token,
        "000000",
    ));
    assert_eq!(status, 400);
    let locked = second_step(
        &service,
        &service.plain(),
        &mfa_token,
        &code(&user.secret, 1),
    );
    assert_eq!(locked.status(), 429, "the right code too, once locked");
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(
        password_login(&service, &service.plain(), &user.email).status(),
        429
    );
    let events = event_types(&service, &user.token);
    assert!(events.contains(&"login_locked".to_owned()), "{events:?}");
}

#[test]
fn only_a_second_step_that_succeeds_clears_the_count() {
    let service = with_key().var("login_max_failures", "4").start();
    let user = enrolled(&service);
    for _ in 0..3 {
        first_step(&service, &user.email);
    }
    // Three right passwords counted, none cleared: the fourth attempt locks.
    let mfa_token = first_step(&service, &user.email);
    let (status, _) = common::detail(second_step(
        &service,
        &service.plain(),
        &mfa_token,
        "000000",
    ));
    assert_eq!(status, 429);
    service.db.execute("DELETE FROM login_throttle");
    let mfa_token = first_step(&service, &user.email);
    assert_eq!(
        second_step(
            &service,
            &service.plain(),
            &mfa_token,
            &code(&user.secret, 1)
        )
        .status(),
        200
    );
    // Cleared: three more attempts fit.
    for _ in 0..3 {
        first_step(&service, &user.email);
    }
}

#[test]
fn disabling_needs_the_password_and_a_code_and_ends_the_second_step() {
    let service = with_key().start();
    let (_, body, _) = register_and_login(&service, &service.browser());
    let plain_token = access_token(&body);
    let disable = |token: &str, password: &str, code: &str| {
        send(
            &service,
            reqwest::Method::DELETE,
            "/api/users/me/mfa/totp",
            token,
            json!({"password": password, "code": code}),
        )
    };
    let (status, detail) = common::detail(disable(&plain_token, PASSWORD, "123456"));
    assert_eq!(
        (status, detail),
        (400, json!("Two-factor authentication is not enabled"))
    );
    let user = enrolled(&service);
    let (status, detail) = common::detail(disable(&user.token, "wrong password", "123456"));
    assert_eq!((status, detail), (400, json!("Incorrect password")));
    let (status, detail) = common::detail(disable(&user.token, PASSWORD, "000000"));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    let (status, _) = common::detail(disable(&user.token, PASSWORD, &"9".repeat(65)));
    assert_eq!(status, 422);
    let pending = first_step(&service, &user.email);
    let done = disable(&user.token, PASSWORD, &user.recovery_codes[0]);
    assert_eq!(done.status(), 200);
    let (status, _) = common::detail(second_step(
        &service,
        &service.plain(),
        &pending,
        &code(&user.secret, 1),
    ));
    assert_eq!(status, 401, "open mfa_tokens die with the factor");
    let plain = password_login(&service, &service.plain(), &user.email);
    assert_eq!(plain.json::<Value>().unwrap()["status"], "success");
    let events = event_types(&service, &user.token);
    assert_eq!(events[..2], ["login", "mfa_disabled"]);
    assert!(events.contains(&"mfa_failed".to_owned()));
    assert!(events.contains(&"login_failed".to_owned()));
}

#[test]
fn deleting_the_account_with_two_factor_on_needs_a_code() {
    let service = with_key().start();
    let user = enrolled(&service);
    let delete = |body: Value| {
        send(
            &service,
            reqwest::Method::DELETE,
            "/api/users/me",
            &user.token,
            body,
        )
    };
    let (status, detail) = common::detail(delete(json!({"password": PASSWORD})));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    let (status, detail) = common::detail(delete(json!({"password": PASSWORD, "code": "000000"})));
    assert_eq!((status, detail), (400, json!("Invalid code")));
    let response = delete(json!({"password": PASSWORD, "code": code(&user.secret, 1)}));
    assert_eq!(response.status(), 200);
    assert_eq!(service.db.query_i64("SELECT count(*) FROM mfa_factors"), 0);
    assert_eq!(
        service
            .db
            .query_i64("SELECT count(*) FROM mfa_recovery_codes"),
        0
    );
}

#[test]
fn without_the_key_enrolling_is_503_naming_the_variable_and_bodies_are_checked() {
    let service = Service::start();
    let (_, body, _) = register_and_login(&service, &service.browser());
    let token = access_token(&body);
    let (status, detail) = common::detail(enroll(&service, &token));
    assert_eq!(
        (status, detail),
        (503, json!("Service temporarily unavailable"))
    );
    assert!(
        service.logs().contains("mfa_encryption_key"),
        "{}",
        service.logs()
    );
    for body in [
        json!({"mfa_token": "", "code": "123456"}),
        json!({"mfa_token": "t", "code": ""}),
        json!({"mfa_token": "t", "code": "1".repeat(65)}),
        json!({"mfa_token": "t".repeat(513), "code": "123456"}),
        json!({"mfa_token": 5, "code": "123456"}),
        json!({"code": "123456"}),
    ] {
        let response = post_json(&service.plain(), &service.url("/api/auth/login/mfa"), &body);
        assert_eq!(response.status(), 422, "{body}");
    }
    let no_token = service
        .plain()
        .post(service.url("/api/users/me/mfa/totp"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(no_token.status(), 401);
}

#[test]
fn a_rotated_key_still_opens_the_secret_which_is_sealed_again() {
    let first = with_key().start();
    let user = enrolled(&first);
    let sealed_before = first.db.query_text(&match first.db.backend {
        Backend::Postgres => "SELECT encode(sealed_secret, 'hex') FROM mfa_factors".to_owned(),
        Backend::Sqlite => "SELECT hex(sealed_secret) FROM mfa_factors".to_owned(),
    });
    let rotated = first
        .replica()
        .var("mfa_encryption_key", OTHER_KEY)
        .var("mfa_previous_encryption_keys", KEY)
        .start();
    let mfa_token = first_step(&rotated, &user.email);
    assert_eq!(
        second_step(
            &rotated,
            &rotated.plain(),
            &mfa_token,
            &code(&user.secret, 1)
        )
        .status(),
        200
    );
    let sealed_after = rotated.db.query_text(&match rotated.db.backend {
        Backend::Postgres => "SELECT encode(sealed_secret, 'hex') FROM mfa_factors".to_owned(),
        Backend::Sqlite => "SELECT hex(sealed_secret) FROM mfa_factors".to_owned(),
    });
    assert_ne!(
        sealed_before.to_lowercase(),
        sealed_after.to_lowercase(),
        "sealed again"
    );
    // Only the new key now: it opens.
    let only_new = first.replica().var("mfa_encryption_key", OTHER_KEY).start();
    forget_last_step(&only_new);
    let mfa_token = first_step(&only_new, &user.email);
    assert_eq!(
        second_step(
            &only_new,
            &only_new.plain(),
            &mfa_token,
            &code(&user.secret, 0)
        )
        .status(),
        200
    );
    // A key that never sealed it: 503, and the log names the variable.
    let lost = first.replica().var("mfa_encryption_key", KEY).start();
    forget_last_step(&lost);
    let mfa_token = first_step(&lost, &user.email);
    let (status, _) = common::detail(second_step(
        &lost,
        &lost.plain(),
        &mfa_token,
        &code(&user.secret, 0),
    ));
    assert_eq!(status, 503);
    assert!(
        lost.logs().contains("mfa_encryption_key"),
        "{}",
        lost.logs()
    );
}
