//! `POST /api/auth/login` and `GET /api/users/me` (API.md, Routes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn login_answers_the_token_and_sets_three_cookies() {
    let service = Service::start();
    let client = service.browser();
    let (_, body, cookies) = register_and_login(&service, &client);
    assert_eq!(body["status"], "success");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(cookie_value(&cookies, "access_token"), access);

    let access_cookie = cookie(&cookies, "access_token");
    for attribute in ["HttpOnly", "Max-Age=900", "Path=/", "SameSite=Lax"] {
        assert!(access_cookie.contains(attribute), "{access_cookie}");
    }
    let refresh_cookie = cookie(&cookies, "refresh_token");
    for attribute in ["HttpOnly", "Max-Age=3600", "Path=/api/auth", "SameSite=Lax"] {
        assert!(refresh_cookie.contains(attribute), "{refresh_cookie}");
    }
    let logged_in = cookie(&cookies, "logged_in");
    assert!(logged_in.starts_with("logged_in=True;"), "{logged_in}");
    assert!(
        logged_in.contains("Max-Age=900") && logged_in.contains("Path=/"),
        "{logged_in}"
    );
    assert!(!logged_in.contains("HttpOnly"), "{logged_in}");
    // cookie_secure = false in this configuration.
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
}

#[test]
fn cookies_are_secure_by_default_and_lifetimes_follow_the_settings() {
    let service = Service::builder()
        .var("cookie_secure", "true")
        .var("access_token_expires_in", "5")
        .var("refresh_token_expires_in", "120")
        .start();
    let client = service.plain();
    let email = register(&service, &client);
    let response = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 3);
    assert!(
        cookie(&cookies, "access_token").contains("; Secure"),
        "{cookies:?}"
    );
    assert!(
        cookie(&cookies, "refresh_token").contains("; Secure"),
        "{cookies:?}"
    );
    // API.md lists logged_in without Secure (the tutorial's cookie).
    assert!(
        !cookie(&cookies, "logged_in").contains("Secure"),
        "{cookies:?}"
    );
    assert!(cookie(&cookies, "access_token").contains("Max-Age=300"));
    assert!(cookie(&cookies, "logged_in").contains("Max-Age=300"));
    assert!(cookie(&cookies, "refresh_token").contains("Max-Age=7200"));
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = jwt_part(&token, 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
}

#[test]
fn unknown_email_and_wrong_password_get_the_same_400() {
    let service = Service::start();
    let client = service.plain();
    let email = register(&service, &client);
    let wrong = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": "wrong-password"}),
    );
    assert!(set_cookies(&wrong).is_empty());
    assert_eq!(detail(wrong), (400, json!("Incorrect Email or Password")));
    let unknown = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": unique_email("nobody"), "password": PASSWORD}),
    );
    assert_eq!(detail(unknown), (400, json!("Incorrect Email or Password")));
}

#[test]
fn login_ignores_email_case_and_surrounding_spaces() {
    let service = Service::start();
    let client = service.plain();
    let email = register(&service, &client);
    let response = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": format!(" {} ", email.to_uppercase()), "password": PASSWORD}),
    );
    assert_eq!(response.status(), 200);
}

#[test]
fn malformed_logins_are_422() {
    let service = Service::start();
    let client = service.plain();
    for body in [
        json!({"email": "not-an-email", "password": "x"}),
        json!({"email": "a@b.co", "password": ""}),
        json!({"email": "a@b.co"}),
        json!({"email": "a@b.co", "password": "x".repeat(129)}),
        json!({"email": 1, "password": 2}),
    ] {
        let response = post_json(&client, &service.url("/api/auth/login"), &body);
        assert_eq!(response.status(), 422, "{body}");
    }
}

#[test]
fn an_unverified_user_is_told_after_the_password_checked_out() {
    let service = Service::start();
    let client = service.plain();
    let email = register(&service, &client);
    service.db.execute(&format!(
        "UPDATE users SET verified = false WHERE email = '{email}'"
    ));
    let wrong = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": "wrong-pass"}),
    );
    assert_eq!(wrong.status(), 400);
    let right = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    assert_eq!(
        detail(right),
        (401, json!("Please verify your email address"))
    );
}

#[test]
fn a_weaker_hash_is_upgraded_on_the_next_successful_login() {
    let service = Service::start();
    let client = service.plain();
    let email = register(&service, &client);
    // argon2id with m=4096, t=1 of "weakpassword1".
    let weak = "$argon2id$v=19$m=4096,t=1,p=1$5AZDI5pk90dMH1hfVTq4iQ$CjSjfwkUO7UwsN1YvYllaBjs0JEs/3aZS11Diw7FlnE";
    service.db.execute(&format!(
        "UPDATE users SET password = '{weak}' WHERE email = '{email}'"
    ));
    let response = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": "weakpassword1"}),
    );
    assert_eq!(response.status(), 200);
    let hash = service.db.query_text(&format!(
        "SELECT password FROM users WHERE email = '{email}'"
    ));
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let again = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": "weakpassword1"}),
    );
    assert_eq!(again.status(), 200);
}

#[test]
fn each_login_starts_a_new_server_side_session() {
    let service = Service::start();
    let client = service.browser();
    let email = register(&service, &client);
    let (first, _) = login(&service, &client, &email);
    let (second, _) = login(&service, &client, &email);
    let sid = |body: &Value| {
        jwt_part(body["access_token"].as_str().unwrap(), 1)["sid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(sid(&first), sid(&second));
    assert_eq!(service.db.query_i64("SELECT count(*) FROM sessions"), 2);
    let stored = service.db.query_i64(&format!(
        "SELECT count(*) FROM sessions WHERE id = '{}'",
        sid(&first)
    ));
    assert_eq!(stored, 1);
}

#[test]
fn me_returns_the_user_with_the_cookie_or_a_bearer_token() {
    let service = Service::start();
    let client = service.browser();
    let (email, body, _) = register_and_login(&service, &client);
    let by_cookie: Value = client
        .get(service.url("/api/users/me"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_cookie["email"], email);
    assert!(by_cookie.get("password").is_none());
    let token = body["access_token"].as_str().unwrap();
    let by_bearer = service
        .plain()
        .get(service.url("/api/users/me"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(by_bearer.status(), 200);
    assert_eq!(by_bearer.json::<Value>().unwrap(), by_cookie);
    assert_eq!(by_cookie["id"], jwt_part(token, 1)["sub"]);
}

#[test]
fn me_without_a_token_is_401_with_a_bearer_challenge() {
    let service = Service::start();
    let response = service
        .plain()
        .get(service.url("/api/users/me"))
        .send()
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(detail(response), (401, json!("You are not logged in")));
}

#[test]
fn me_for_a_deleted_user_is_401_user_no_longer_exist() {
    let service = Service::start();
    let client = service.browser();
    let (email, _, _) = register_and_login(&service, &client);
    service
        .db
        .execute(&format!("DELETE FROM users WHERE email = '{email}'"));
    let response = client.get(service.url("/api/users/me")).send().unwrap();
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_eq!(detail(response), (401, json!("User no longer exist")));
    // The user is looked up first: a revoked session does not change that.
    service.db.execute(&format!(
        "UPDATE sessions SET revoked_at = {}",
        service.db.now()
    ));
    let response = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(detail(response), (401, json!("User no longer exist")));
}

#[test]
fn me_for_an_unverified_user_is_401() {
    let service = Service::start();
    let client = service.browser();
    let (email, _, _) = register_and_login(&service, &client);
    service.db.execute(&format!(
        "UPDATE users SET verified = false WHERE email = '{email}'"
    ));
    let response = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(detail(response), (401, json!("Please verify your account")));
}
