//! Accounts people can recover (docs/API.md, Accounts and Email delivery):
//! verification, password reset, profile, password change and deletion,
//! with every email caught by a real HTTP receiver that checks its
//! Standard Webhooks signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::mailbox::{HookMode, MailReceiver, SECRET};
use common::*;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a-new-password-456";

/// A service whose emails go to `receiver`.
fn with_mail(receiver: &MailReceiver) -> ServiceBuilder {
    Service::builder()
        .var("email_webhook_url", &receiver.url())
        .var("email_webhook_secret", SECRET)
        .var("email_webhook_host", &receiver.origin)
}

fn post(service: &Service, path: &str, body: Value) -> Response {
    post_json(&service.plain(), &service.url(path), &body)
}

fn forgot(service: &Service, email: &str) -> Response {
    post(
        service,
        "/api/auth/forgot-password",
        json!({"email": email}),
    )
}

fn reset(service: &Service, token: &str, password: &str) -> Response {
    post(
        service,
        "/api/auth/reset-password",
        json!({"token": token, "password": password, "passwordConfirm": password}),
    )
}

fn login_status(service: &Service, email: &str, password: &str) -> u16 {
    post(
        service,
        "/api/auth/login",
        json!({"email": email, "password": password}),
    )
    .status()
    .as_u16()
}

fn bearer(
    client: &Client,
    method: reqwest::Method,
    url: String,
    token: &str,
) -> reqwest::blocking::RequestBuilder {
    client.request(method, url).bearer_auth(token)
}

#[test]
fn with_verification_required_register_sends_a_signed_email_whose_link_verifies() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("require_email_verification", "true")
        .var(
            "email_verification_url",
            "https://app.example/verify#token={token}",
        )
        .start();
    let email = unique_email("verify");
    let created = post(&service, "/api/auth/register", register_body(&email));
    assert_eq!(created.status(), 201);
    let user: Value = created.json().unwrap();
    assert_eq!(user["verified"], false);
    let mail = receiver.wait_for(&email, "email.verification", 1);
    let delivery = receiver.deliveries().pop().unwrap();
    assert!(delivery.signature_ok, "{:?}", delivery.headers);
    assert!(delivery.headers["webhook-id"].starts_with("msg_"));
    assert_eq!(mail["user"]["id"], user["id"]);
    assert_eq!(mail["subject"], "Verify your email address");
    let token = mail["token"].as_str().unwrap();
    assert!(token.len() >= 43);
    assert_eq!(
        mail["link"],
        format!("https://app.example/verify#token={token}")
    );
    assert!(mail["text"]
        .as_str()
        .unwrap()
        .contains(mail["link"].as_str().unwrap()));
    assert!(mail["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(mail.get("password").is_none() && !mail.to_string().contains("argon2"));

    assert_eq!(login_status(&service, &email, PASSWORD), 401);
    let verified = post(&service, "/api/auth/verify-email", json!({"token": token}));
    assert_eq!(verified.status(), 200);
    assert_eq!(
        verified.json::<Value>().unwrap(),
        json!({"status": "success"})
    );
    assert_eq!(login_status(&service, &email, PASSWORD), 200);
    assert_eq!(
        detail(post(
            &service,
            "/api/auth/verify-email",
            json!({"token": token})
        )),
        (400, json!("Invalid or expired token"))
    );
    assert!(!service.logs().contains(token), "a token reached the log");
}

#[test]
fn without_required_verification_a_new_user_is_verified_and_gets_no_email() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = register(&service, &service.plain());
    assert_eq!(login_status(&service, &email, PASSWORD), 200);
    // Resending to a verified user sends nothing either.
    assert_eq!(
        post(
            &service,
            "/api/auth/resend-verification",
            json!({"email": email})
        )
        .status(),
        202
    );
    assert!(receiver.deliveries().is_empty());
}

#[test]
fn the_email_routes_answer_the_same_for_unknown_addresses_and_mail_only_registered_ones() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("require_email_verification", "true")
        .start();
    let email = unique_email("known");
    assert_eq!(
        post(&service, "/api/auth/register", register_body(&email)).status(),
        201
    );
    let unknown = unique_email("unknown");
    for path in ["/api/auth/resend-verification", "/api/auth/forgot-password"] {
        let answers: Vec<(u16, String)> = [&email, &unknown]
            .iter()
            .map(|address| {
                let response = post(&service, path, json!({"email": address.to_uppercase()}));
                (response.status().as_u16(), response.text().unwrap())
            })
            .collect();
        assert_eq!(answers[0], answers[1], "{path}");
        assert_eq!(answers[0], (202, r#"{"status":"accepted"}"#.to_owned()));
    }
    assert_eq!(receiver.emails(&email, "email.verification").len(), 2);
    assert_eq!(receiver.emails(&email, "email.password_reset").len(), 1);
    assert!(receiver
        .deliveries()
        .iter()
        .all(|d| d.body["to"] != unknown.as_str()));
    // A newer verification token voids the older one.
    let emails = receiver.emails(&email, "email.verification");
    let (older, newer) = (&emails[0]["token"], &emails[1]["token"]);
    assert_eq!(
        post(&service, "/api/auth/verify-email", json!({"token": older})).status(),
        400
    );
    assert_eq!(
        post(&service, "/api/auth/verify-email", json!({"token": newer})).status(),
        200
    );
}

#[test]
fn at_most_three_emails_per_address_per_hour_and_the_last_link_keeps_working() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = register(&service, &service.plain());
    for _ in 0..5 {
        assert_eq!(forgot(&service, &email).status(), 202);
    }
    let emails = receiver.emails(&email, "email.password_reset");
    assert_eq!(emails.len(), 3);
    let last = emails[2]["token"].as_str().unwrap();
    assert_eq!(reset(&service, last, NEW_PASSWORD).status(), 200);
    // The limit counts notices out: the password_changed notice still went.
    receiver.wait_for(&email, "email.password_changed", 1);
}

#[test]
fn parallel_requests_for_one_address_send_at_most_three_emails() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = register(&service, &service.plain());
    let statuses = statuses_in_parallel(10, || forgot(&service, &email));
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(receiver.emails(&email, "email.password_reset").len(), 3);
}

#[test]
fn a_reset_replaces_the_password_and_ends_every_session() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let browser = service.browser();
    let (email, body, _) = register_and_login(&service, &browser);
    let other_device = service.browser();
    login(&service, &other_device, &email);
    assert_eq!(forgot(&service, &email).status(), 202);
    let mail = receiver.wait_for(&email, "email.password_reset", 1);
    let token = mail["token"].as_str().unwrap();
    assert!(mail["link"]
        .as_str()
        .unwrap()
        .starts_with("http://localhost:3000/reset-password#token="));
    assert_eq!(mail["subject"], "Reset your password");

    let mismatch = post(
        &service,
        "/api/auth/reset-password",
        json!({"token": token, "password": NEW_PASSWORD, "passwordConfirm": "something-else"}),
    );
    assert_eq!(detail(mismatch), (400, json!("Passwords do not match")));
    assert_eq!(
        detail(reset(&service, "not-a-token", NEW_PASSWORD)),
        (400, json!("Invalid or expired token"))
    );
    assert_eq!(reset(&service, token, "short").status(), 422);
    assert_eq!(reset(&service, token, NEW_PASSWORD).status(), 200);
    assert_eq!(
        detail(reset(&service, token, NEW_PASSWORD)),
        (400, json!("Invalid or expired token"))
    );

    // Every session ended: access and refresh tokens of both devices fail.
    let me = bearer(
        &service.plain(),
        reqwest::Method::GET,
        service.url("/api/users/me"),
        &access_token(&body),
    )
    .send()
    .unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(refresh_status(&service, &browser), 401);
    assert_eq!(refresh_status(&service, &other_device), 401);
    assert_eq!(login_status(&service, &email, PASSWORD), 400);
    assert_eq!(login_status(&service, &email, NEW_PASSWORD), 200);
    let notice = receiver.wait_for(&email, "email.password_changed", 1);
    assert!(notice.get("token").is_none() && notice.get("link").is_none());

    let (body, _) = {
        let response = post(
            &service,
            "/api/auth/login",
            json!({"email": email, "password": NEW_PASSWORD}),
        );
        (response.json::<Value>().unwrap(), ())
    };
    let events = event_types(&service, &access_token(&body));
    let position = |kind: &str| events.iter().position(|e| e == kind).unwrap_or(usize::MAX);
    assert!(
        position("password_reset") < position("password_reset_requested"),
        "{events:?}"
    );
    assert!(!service.logs().contains(token));
}

#[test]
fn a_reset_clears_the_failed_logins_and_verifies_the_address() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("require_email_verification", "true")
        .var("login_max_failures", "3")
        .start();
    let email = unique_email("locked");
    assert_eq!(
        post(&service, "/api/auth/register", register_body(&email)).status(),
        201
    );
    for _ in 0..3 {
        assert_eq!(login_status(&service, &email, "wrong-password"), 400);
    }
    assert_eq!(login_status(&service, &email, PASSWORD), 429);
    forgot(&service, &email);
    let token = receiver.token(&email, "email.password_reset");
    assert_eq!(reset(&service, &token, NEW_PASSWORD).status(), 200);
    assert_eq!(login_status(&service, &email, NEW_PASSWORD), 200);
}

#[test]
fn parallel_resets_with_one_token_give_exactly_one_success() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = register(&service, &service.plain());
    forgot(&service, &email);
    let token = receiver.token(&email, "email.password_reset");
    let statuses = statuses_in_parallel(8, || reset(&service, &token, NEW_PASSWORD));
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

#[test]
fn a_reset_racing_a_refresh_leaves_no_live_session() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    for _ in 0..3 {
        let browser = service.browser();
        let (email, _, _) = register_and_login(&service, &browser);
        forgot(&service, &email);
        let token = receiver.token(&email, "email.password_reset");
        std::thread::scope(|scope| {
            let refresher = scope.spawn(|| refresh_status(&service, &browser));
            assert_eq!(reset(&service, &token, NEW_PASSWORD).status(), 200);
            refresher.join().unwrap();
        });
        // Whichever came first, the browser's refresh token is dead now.
        assert_eq!(refresh_status(&service, &browser), 401);
    }
}

#[test]
fn hostile_tokens_are_refused() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("require_email_verification", "true")
        .start();
    let email = unique_email("hostile");
    post(&service, "/api/auth/register", register_body(&email));
    let verification = receiver.token(&email, "email.verification");
    // A token of the other kind.
    assert_eq!(
        detail(reset(&service, &verification, NEW_PASSWORD)),
        (400, json!("Invalid or expired token"))
    );
    // 10 KB: a field rule.
    let huge = "A".repeat(10 * 1024);
    let (status, detail_body) = detail(post(
        &service,
        "/api/auth/verify-email",
        json!({"token": huge}),
    ));
    assert_eq!(status, 422);
    assert_eq!(detail_body[0]["loc"], json!(["body", "token"]));
    for bad in [
        json!({"token": ""}),
        json!({"token": 5}),
        json!({}),
        json!({"token": null}),
    ] {
        assert_eq!(
            post(&service, "/api/auth/verify-email", bad.clone()).status(),
            422,
            "{bad}"
        );
    }
    for quirky in ["' OR 1=1 --", "../../etc/passwd", "\u{0}", "%00", "🙂"] {
        assert_eq!(
            post(&service, "/api/auth/verify-email", json!({"token": quirky})).status(),
            400,
            "{quirky}"
        );
    }
    // The token of a deleted user.
    verify_with(&service, &verification);
    let body = login(&service, &service.plain(), &email).0;
    forgot(&service, &email);
    let reset_token = receiver.token(&email, "email.password_reset");
    let deleted = bearer(
        &service.plain(),
        reqwest::Method::DELETE,
        service.url("/api/users/me"),
        &access_token(&body),
    )
    .json(&json!({"password": PASSWORD}))
    .send()
    .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        detail(reset(&service, &reset_token, NEW_PASSWORD)),
        (400, json!("Invalid or expired token"))
    );
}

fn verify_with(service: &Service, token: &str) {
    assert_eq!(
        post(service, "/api/auth/verify-email", json!({"token": token})).status(),
        200
    );
}

#[test]
fn the_html_escapes_a_hostile_name() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = unique_email("xss");
    let mut body = register_body(&email);
    body["name"] = json!("<script>alert('x')</script>");
    assert_eq!(post(&service, "/api/auth/register", body).status(), 201);
    forgot(&service, &email);
    let mail = receiver.wait_for(&email, "email.password_reset", 1);
    let html = mail["html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert_eq!(mail["user"]["name"], "<script>alert('x')</script>");
}

#[test]
fn a_hook_that_fails_answers_500_or_hangs_never_fails_the_answer() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let email = register(&service, &service.plain());
    receiver.set_mode(HookMode::Fail500);
    assert_eq!(forgot(&service, &email).status(), 202);
    assert!(
        service
            .logs()
            .contains("email hook failed: type=email.password_reset"),
        "{}",
        service.logs()
    );
    assert!(service.logs().contains("status=500"));

    receiver.set_mode(HookMode::Hang);
    let started = Instant::now();
    assert_eq!(forgot(&service, &email).status(), 202);
    // 3 s to the first byte, and some slack for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    // The hook's tokens never reach the log.
    for delivery in receiver.deliveries() {
        assert!(!service
            .logs()
            .contains(delivery.body["token"].as_str().unwrap()));
    }
}

#[test]
fn a_hook_that_is_down_never_fails_the_answer() {
    let receiver = MailReceiver::start();
    // A port nobody listens on, allowed by email_webhook_host.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let service = with_mail(&receiver)
        .var("email_webhook_url", &format!("http://{closed}/hook"))
        .var("email_webhook_host", &format!("http://{closed}"))
        .start();
    let email = register(&service, &service.plain());
    assert_eq!(forgot(&service, &email).status(), 202);
    assert!(
        service.logs().contains("email hook failed"),
        "{}",
        service.logs()
    );
}

#[test]
fn a_hook_outside_email_webhook_host_is_denied_and_never_reached() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("email_webhook_host", "http://127.0.0.1:9")
        .start();
    let email = register(&service, &service.plain());
    assert_eq!(forgot(&service, &email).status(), 202);
    assert!(receiver.deliveries().is_empty());
    assert!(
        service.logs().contains("HTTP-request-denied"),
        "{}",
        service.logs()
    );
}

/// Spin variables as (name, value) pairs.
type Variables = &'static [(&'static str, &'static str)];

#[test]
fn weak_or_incomplete_email_settings_are_a_503_naming_the_variable() {
    let cases: [(Variables, &str, &str); 3] = [
        (
            &[
                ("email_webhook_url", "http://hooks.example.com/mail"),
                ("email_webhook_secret", SECRET),
            ],
            "/api/auth/forgot-password",
            "email_webhook_url",
        ),
        (
            &[("email_webhook_url", "https://hooks.example.com/mail")],
            "/api/auth/forgot-password",
            "email_webhook_secret",
        ),
        (
            &[("require_email_verification", "true")],
            "/api/auth/register",
            "email_webhook_url",
        ),
    ];
    for (variables, path, named) in cases {
        let mut builder = Service::builder();
        for (name, value) in variables {
            builder = builder.var(name, value);
        }
        let service = builder.start();
        let email = unique_email("weak");
        let response = post(&service, path, register_body(&email));
        assert_eq!(
            detail(response),
            (503, json!("Service temporarily unavailable")),
            "{named}"
        );
        assert!(service.logs().contains(named), "{}", service.logs());
    }
}

#[test]
fn an_unverified_login_with_the_right_password_clears_no_failed_attempts() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver)
        .var("require_email_verification", "true")
        .var("login_max_failures", "2")
        .start();
    let email = unique_email("order");
    post(&service, "/api/auth/register", register_body(&email));
    assert_eq!(login_status(&service, &email, "wrong-password"), 400);
    assert_eq!(login_status(&service, &email, PASSWORD), 401);
    assert_eq!(login_status(&service, &email, PASSWORD), 429);
}

// The signed-in routes.

fn signed_in(service: &Service) -> (String, String, Client) {
    let browser = service.browser();
    let (email, body, _) = register_and_login(service, &browser);
    (email, access_token(&body), browser)
}

#[test]
fn a_profile_update_changes_name_and_photo_only() {
    let service = Service::start();
    let (email, token, browser) = signed_in(&service);
    let before: Value = bearer(
        &service.plain(),
        reqwest::Method::GET,
        service.url("/api/users/me"),
        &token,
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    let response = bearer(
        &service.plain(),
        reqwest::Method::PATCH,
        service.url("/api/users/me"),
        &token,
    )
    .json(
        &json!({"name": "  Grace  ", "photo": "g.png", "email": "x@example.com",
                      "role": "admin", "verified": false, "password": "hijacked-1"}),
    )
    .send()
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let after: Value = response.json().unwrap();
    assert_eq!(
        (&after["name"], &after["photo"]),
        (&json!("Grace"), &json!("g.png"))
    );
    assert_eq!(
        (&after["email"], &after["role"], &after["verified"]),
        (&json!(email), &json!("user"), &json!(true))
    );
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str().unwrap() > before["updated_at"].as_str().unwrap());
    assert_eq!(login_status(&service, &email, "hijacked-1"), 400);
    // `photo: null` clears it; a body with neither field changes nothing.
    let cleared: Value = bearer(
        &service.plain(),
        reqwest::Method::PATCH,
        service.url("/api/users/me"),
        &token,
    )
    .json(&json!({"photo": null}))
    .send()
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(
        (&cleared["name"], &cleared["photo"]),
        (&json!("Grace"), &Value::Null)
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": null}),
        json!({"name": 5}),
        json!({"photo": "p".repeat(2049)}),
        json!({"name": "n".repeat(101)}),
    ] {
        let response = bearer(
            &service.plain(),
            reqwest::Method::PATCH,
            service.url("/api/users/me"),
            &token,
        )
        .json(&bad)
        .send()
        .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
    }
    // A cookie request from a foreign origin is refused; none at all is 401.
    let foreign = browser
        .patch(service.url("/api/users/me"))
        .header("Origin", "https://evil.example")
        .json(&json!({"name": "Evil"}))
        .send()
        .unwrap();
    assert_eq!(detail(foreign), (403, json!("Origin not allowed")));
    let anonymous = service
        .plain()
        .patch(service.url("/api/users/me"))
        .json(&json!({"name": "X"}))
        .send()
        .unwrap();
    assert_eq!(detail(anonymous), (401, json!("You are not logged in")));
}

#[test]
fn a_password_change_keeps_this_session_ends_the_others_and_sends_a_notice() {
    let receiver = MailReceiver::start();
    let service = with_mail(&receiver).start();
    let (email, token, browser) = signed_in(&service);
    let other_device = service.browser();
    login(&service, &other_device, &email);
    let change = |current: &str, password: &str, confirm: &str| {
        bearer(
            &service.plain(),
            reqwest::Method::POST,
            service.url("/api/users/me/password"),
            &token,
        )
        .json(
            &json!({"currentPassword": current, "password": password, "passwordConfirm": confirm}),
        )
        .send()
        .unwrap()
    };
    assert_eq!(
        detail(change(PASSWORD, NEW_PASSWORD, "different-1")),
        (400, json!("Passwords do not match"))
    );
    assert_eq!(
        detail(change("wrong-password", NEW_PASSWORD, NEW_PASSWORD)),
        (400, json!("Incorrect password"))
    );
    assert_eq!(change(PASSWORD, "short", "short").status(), 422);
    assert_eq!(change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD).status(), 200);
    assert_eq!(refresh_status(&service, &other_device), 401);
    assert_eq!(refresh_status(&service, &browser), 200);
    assert_eq!(login_status(&service, &email, PASSWORD), 400);
    assert_eq!(login_status(&service, &email, NEW_PASSWORD), 200);
    receiver.wait_for(&email, "email.password_changed", 1);
    let events = event_types(&service, &token);
    assert!(
        events.contains(&"password_changed".to_owned()),
        "{events:?}"
    );
    assert!(events.contains(&"login_failed".to_owned()), "{events:?}");
}

#[test]
fn wrong_current_passwords_count_as_failed_logins_until_429() {
    let service = Service::builder().var("login_max_failures", "3").start();
    let (_, token, _) = signed_in(&service);
    let change = |current: &str| {
        bearer(&service.plain(), reqwest::Method::POST, service.url("/api/users/me/password"), &token)
            .json(&json!({"currentPassword": current, "password": NEW_PASSWORD, "passwordConfirm": NEW_PASSWORD}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let statuses: Vec<u16> = ["bad-1", "bad-2", "bad-3", PASSWORD]
        .iter()
        .map(|p| change(p))
        .collect();
    assert_eq!(statuses, [400, 400, 400, 429]);
    // Locked: 429 before the mismatch check, with Retry-After.
    let response = bearer(&service.plain(), reqwest::Method::POST, service.url("/api/users/me/password"), &token)
        .json(&json!({"currentPassword": PASSWORD, "password": NEW_PASSWORD, "passwordConfirm": "no-match-1"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
}

#[test]
fn deleting_the_account_ends_everything_and_frees_the_email() {
    let service = Service::start();
    let (email, token, browser) = signed_in(&service);
    let delete = |password: &str| {
        bearer(
            &service.plain(),
            reqwest::Method::DELETE,
            service.url("/api/users/me"),
            &token,
        )
        .json(&json!({"password": password}))
        .send()
        .unwrap()
    };
    assert_eq!(
        detail(delete("wrong-password")),
        (400, json!("Incorrect password"))
    );
    let deleted = delete(PASSWORD);
    assert_eq!(deleted.status(), 200);
    let cookies = set_cookies(&deleted);
    for name in ["access_token", "refresh_token", "logged_in"] {
        assert!(cookie(&cookies, name).contains("Max-Age=0"), "{cookies:?}");
    }
    let me = bearer(
        &service.plain(),
        reqwest::Method::GET,
        service.url("/api/users/me"),
        &token,
    )
    .send()
    .unwrap();
    assert_eq!(detail(me), (401, json!("User no longer exist")));
    let refresh = browser
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap();
    assert_eq!(
        detail(refresh),
        (
            401,
            json!("The user belonging to this token no longer exist")
        )
    );
    assert_eq!(
        post(&service, "/api/auth/register", register_body(&email)).status(),
        201
    );
    // The new account starts with no events of the old one.
    let fresh = login(&service, &service.plain(), &email).0;
    assert_eq!(event_types(&service, &access_token(&fresh)), ["login"]);
}

#[test]
fn discovery_publishes_the_configured_issuer_only() {
    let service = Service::builder()
        .var("jwt_issuer", "https://auth.example.com")
        .start();
    let response = service
        .plain()
        .get(service.url("/.well-known/openid-configuration"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body: Value = response.json().unwrap();
    assert_eq!(
        body,
        json!({"issuer": "https://auth.example.com",
               "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
               "id_token_signing_alg_values_supported": ["RS256"],
               "token_endpoint_auth_methods_supported": ["none"]})
    );
    // The issuer is the tokens' `iss` exactly; jwks_uri has one slash.
    let slashed = Service::builder()
        .var("jwt_issuer", "https://auth.example.com/")
        .start();
    let body: Value = slashed
        .plain()
        .get(slashed.url("/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["issuer"], "https://auth.example.com/");
    assert_eq!(
        body["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    for issuer in ["", "http://auth.example.com"] {
        let service = Service::builder().var("jwt_issuer", issuer).start();
        let response = service
            .plain()
            .get(service.url("/.well-known/openid-configuration"))
            .send()
            .unwrap();
        assert_eq!(detail(response), (404, json!("Not Found")), "{issuer:?}");
    }
}
