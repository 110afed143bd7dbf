//! The admin API end to end: who may call it (checked in the database on
//! every call), the listing and its cursor under concurrent registration,
//! one user, changing verified/role/disabled (a disabled user mid-session),
//! logging a user out everywhere, deleting, the self-lockout rule, and the
//! `admin_emails` bootstrap through a password reset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use common::mailbox::{MailReceiver, SECRET};
use common::*;
use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};

fn call(
    service: &Service,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let request = service
        .plain()
        .request(method, service.url(path))
        .bearer_auth(token);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .unwrap()
}

fn get(service: &Service, path: &str, token: &str) -> Response {
    call(service, Method::GET, path, token, None)
}

/// A registered user made admin in the database, logged in: (email, id, token).
fn admin(service: &Service) -> (String, String, String) {
    let (email, id, _) = user(service);
    service.db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE email = '{email}'"
    ));
    let (body, _) = login(service, &service.plain(), &email);
    (email, id, access_token(&body))
}

/// A registered, logged-in user: (email, id, token).
fn user(service: &Service) -> (String, String, String) {
    let (email, body, _) = register_and_login(service, &service.plain());
    let token = access_token(&body);
    let id = user_id(service, &token);
    (email, id, token)
}

/// The id of the token's user, from `/me`.
fn user_id(service: &Service, token: &str) -> String {
    let me: Value = get(service, "/api/users/me", token).json().unwrap();
    me["id"].as_str().unwrap().to_owned()
}

/// Follows `next_cursor` from the listing `first` (a path with its query)
/// to the end: `field` of every user listed, and the last cursor given.
fn all_pages(service: &Service, token: &str, first: &str, field: &str) -> (Vec<String>, String) {
    let (mut values, mut path, mut last_cursor) = (Vec::new(), first.to_owned(), String::new());
    loop {
        let page: Value = get(service, &path, token).json().unwrap();
        let users = page["users"].as_array().unwrap();
        values.extend(users.iter().map(|u| u[field].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                last_cursor = next.to_owned();
                path = format!("{first}&cursor={next}");
            }
            None => return (values, last_cursor),
        }
    }
}

fn user_path(id: &str) -> String {
    format!("/api/admin/users/{id}")
}

fn patch(service: &Service, token: &str, id: &str, body: Value) -> Response {
    call(service, Method::PATCH, &user_path(id), token, Some(body))
}

#[test]
fn only_a_signed_in_admin_may_call_and_a_demoted_one_stops_at_once() {
    let service = Service::start();
    let (_, target, user_token) = user(&service);
    let routes = [
        (Method::GET, "/api/admin/users".to_owned()),
        (Method::GET, user_path(&target)),
        (Method::PATCH, user_path(&target)),
        (Method::POST, format!("{}/logout-all", user_path(&target))),
        (Method::DELETE, user_path(&target)),
    ];
    for (method, path) in &routes {
        let body = (*method == Method::PATCH).then(|| json!({"verified": true}));
        let (status, detail) = common::detail(call(
            &service,
            method.clone(),
            path,
            &user_token,
            body.clone(),
        ));
        assert_eq!(
            (status, detail),
            (403, json!("Admin privileges required")),
            "{method} {path}"
        );
        let anonymous = service
            .plain()
            .request(method.clone(), service.url(path))
            .send()
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
    }
    let (_, first_id, first) = admin(&service);
    let (_, second_id, second) = admin(&service);
    let listed = get(&service, "/api/admin/users", &second);
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["cache-control"], "no-store");
    // The first admin demotes the second: the second's token is refused at
    // once, though it still names an admin's session.
    let demoted = patch(&service, &first, &second_id, json!({"role": "user"}));
    assert_eq!(demoted.status(), 200);
    assert_eq!(demoted.json::<Value>().unwrap()["role"], "user");
    let (status, _) = common::detail(get(&service, "/api/admin/users", &second));
    assert_eq!(status, 403);
    // Self-demotion, self-disabling and self-deletion are refused.
    for body in [json!({"role": "user"}), json!({"disabled": true})] {
        let (status, detail) = common::detail(patch(&service, &first, &first_id, body));
        assert_eq!(
            (status, detail),
            (400, json!("Admins cannot disable or demote themselves"))
        );
    }
    let (status, detail) = common::detail(call(
        &service,
        Method::DELETE,
        &user_path(&first_id),
        &first,
        None,
    ));
    assert_eq!(
        (status, detail),
        (400, json!("Admins cannot disable or demote themselves"))
    );
    let me: Value = get(&service, "/api/users/me", &first).json().unwrap();
    assert_eq!(me["role"], "admin");
}

#[test]
fn the_listing_pages_oldest_first_searches_and_checks_its_query() {
    let service = Service::start();
    let (_, _, token) = admin(&service);
    let tag = format!("needle{}", std::process::id());
    for i in 0..5 {
        let email = unique_email(&format!("{tag}-{i}"));
        post_json(
            &service.plain(),
            &service.url("/api/auth/register"),
            &register_body(&email),
        );
    }
    let body: Value = get(
        &service,
        &format!("/api/admin/users?q={}&limit=2", tag.to_uppercase()),
        &token,
    )
    .json()
    .unwrap();
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["disabled"], false);
    assert!(users[0].get("password").is_none());
    let (emails, cursor) = all_pages(
        &service,
        &token,
        &format!("/api/admin/users?q={}&limit=2", tag.to_uppercase()),
        "email",
    );
    let expected: Vec<String> = (0..5).map(|i| format!("{tag}-{i}")).collect();
    let found: Vec<String> = emails
        .iter()
        .map(|e| {
            e.rsplit_once('-')
                .unwrap()
                .0
                .rsplit_once('-')
                .unwrap()
                .0
                .to_owned()
        })
        .collect();
    assert_eq!(found, expected, "oldest first, each once");
    for (query, field) in [
        ("limit=0".to_owned(), "limit"),
        ("limit=101".to_owned(), "limit"),
        ("cursor=not-a-cursor".to_owned(), "cursor"),
        (format!("q=other&cursor={cursor}"), "cursor"),
        (format!("q={}", "a".repeat(255)), "q"),
    ] {
        let response = get(&service, &format!("/api/admin/users?{query}"), &token);
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
    }
}

#[test]
fn paging_visits_every_user_once_while_users_register() {
    let service = Service::start();
    let (_, _, token) = admin(&service);
    for _ in 0..20 {
        register(&service, &service.plain());
    }
    let before: Value = get(&service, "/api/admin/users?limit=100", &token)
        .json()
        .unwrap();
    let existing: HashSet<String> = before["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(existing.len(), 21);
    let seen = std::thread::scope(|scope| {
        let registering = scope.spawn(|| {
            for _ in 0..12 {
                register(&service, &service.plain());
            }
        });
        let (seen, _) = all_pages(&service, &token, "/api/admin/users?limit=3", "id");
        registering.join().unwrap();
        seen
    });
    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "no user twice");
    assert!(
        existing.is_subset(&distinct),
        "every user of the first page's time"
    );
}

#[test]
fn one_user_shows_its_state_and_unknown_ids_are_not_found() {
    let service = Service::start();
    let (_, _, token) = admin(&service);
    let (email, id, _) = user(&service);
    login(&service, &service.plain(), &email);
    let response = get(&service, &user_path(&id), &token);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().unwrap();
    assert_eq!(body["email"], email.as_str());
    assert_eq!(
        (body["disabled"].clone(), body["mfa_enabled"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(body["sessions"], 2);
    for missing in [uuid_like(), "not-a-uuid".to_owned()] {
        let (status, detail) = common::detail(get(&service, &user_path(&missing), &token));
        assert_eq!(
            (status, detail),
            (404, json!("User not found")),
            "{missing}"
        );
        let (status, _) =
            common::detail(patch(&service, &token, &missing, json!({"verified": true})));
        assert_eq!(status, 404);
        let (status, _) = common::detail(call(
            &service,
            Method::POST,
            &format!("{}/logout-all", user_path(&missing)),
            &token,
            None,
        ));
        assert_eq!(status, 404);
        let (status, _) = common::detail(call(
            &service,
            Method::DELETE,
            &user_path(&missing),
            &token,
            None,
        ));
        assert_eq!(status, 404);
    }
    for bad in [
        json!({"verified": "yes"}),
        json!({"role": "root"}),
        json!({"disabled": null}),
    ] {
        let response = patch(&service, &token, &id, bad.clone());
        assert_eq!(response.status(), 422, "{bad}");
    }
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000000".to_owned()
}

#[test]
fn a_disabled_user_is_logged_out_mid_session_and_cannot_log_in() {
    let service = Service::start();
    let (_, _, token) = admin(&service);
    let browser = service.browser();
    let (email, body, _) = register_and_login(&service, &browser);
    let user_token = access_token(&body);
    let id = user_id(&service, &user_token);
    let response = patch(&service, &token, &id, json!({"disabled": true}));
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(
        (body["disabled"].clone(), body["sessions"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(get(&service, "/api/users/me", &user_token).status(), 401);
    assert_eq!(me_status(&service, &browser), 401);
    assert_eq!(refresh_status(&service, &browser), 401);
    let (status, detail) = common::detail(post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    ));
    assert_eq!((status, detail), (403, json!("Account disabled")));
    let (status, _) = common::detail(post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": "wrong password"}),
    ));
    assert_eq!(status, 400, "the password is checked first");
    // Enabled again, and unverified: login says so; verified: it works.
    patch(
        &service,
        &token,
        &id,
        json!({"disabled": false, "verified": false}),
    );
    let (status, _) = common::detail(post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    ));
    assert_eq!(status, 401);
    patch(&service, &token, &id, json!({"verified": true}));
    let (body, _) = login(&service, &service.plain(), &email);
    let events = event_types(&service, &access_token(&body));
    assert_eq!(
        events.iter().filter(|e| *e == "admin_update").count(),
        3,
        "{events:?}"
    );
}

#[test]
fn logging_a_user_out_everywhere_and_deleting_it() {
    let service = Service::start();
    let admin_browser = service.browser();
    let (admin_email, _, _) = admin(&service);
    let (body, _) = login(&service, &admin_browser, &admin_email);
    let token = access_token(&body);
    let browser = service.browser();
    let (email, body, _) = register_and_login(&service, &browser);
    let other = service.browser();
    login(&service, &other, &email);
    let user_token = access_token(&body);
    let id = user_id(&service, &user_token);
    let response = call(
        &service,
        Method::POST,
        &format!("{}/logout-all", user_path(&id)),
        &token,
        None,
    );
    assert_eq!(response.status(), 200);
    assert_eq!(refresh_status(&service, &browser), 401);
    assert_eq!(refresh_status(&service, &other), 401);
    let (body, _) = login(&service, &service.plain(), &email);
    assert_eq!(
        event_types(&service, &access_token(&body))[1],
        "admin_logout_all"
    );

    // Deleted with a cookie-authenticated DELETE from the admin's browser.
    let deleted = admin_browser
        .delete(service.url(&user_path(&id)))
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(
        set_cookies(&deleted).is_empty(),
        "the caller's cookies are untouched"
    );
    assert_eq!(me_status(&service, &admin_browser), 200);
    let (status, detail) = common::detail(get(&service, "/api/users/me", &access_token(&body)));
    assert_eq!((status, detail), (401, json!("User no longer exist")));
    assert_eq!(
        post_json(
            &service.plain(),
            &service.url("/api/auth/register"),
            &register_body(&email)
        )
        .status(),
        201,
        "the address may register again"
    );
}

#[test]
fn a_listed_admin_email_becomes_admin_only_by_proving_the_mailbox() {
    let receiver = MailReceiver::start();
    let email = unique_email("boss");
    let service = Service::builder()
        .var("email_webhook_url", &receiver.url())
        .var("email_webhook_secret", SECRET)
        .var("email_webhook_host", &receiver.origin)
        .var("admin_emails", &email.to_uppercase())
        .start();
    let (body, _) = {
        register_for(&service, &email);
        login(&service, &service.plain(), &email)
    };
    let token = access_token(&body);
    let (status, _) = common::detail(get(&service, "/api/admin/users", &token));
    assert_eq!(status, 403, "registering a listed address grants nothing");
    post_json(
        &service.plain(),
        &service.url("/api/auth/forgot-password"),
        &json!({"email": email}),
    );
    let reset_token = receiver.token(&email, "email.password_reset");
    let reset = post_json(
        &service.plain(),
        &service.url("/api/auth/reset-password"),
        &json!({"token": reset_token, "password": PASSWORD, "passwordConfirm": PASSWORD}),
    );
    assert_eq!(reset.status(), 200);
    let (body, _) = login(&service, &service.plain(), &email);
    assert_eq!(
        get(&service, "/api/admin/users", &access_token(&body)).status(),
        200
    );
}

fn register_for(service: &Service, email: &str) {
    let response = post_json(
        &service.plain(),
        &service.url("/api/auth/register"),
        &register_body(email),
    );
    assert_eq!(response.status(), 201);
}
