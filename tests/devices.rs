//! Sessions a user can see and end, and the security event log
//! (docs/API.md, Sessions and security events).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn get(service: &Service, client: &Client, path: &str, token: &str) -> reqwest::blocking::Response {
    client
        .get(service.url(path))
        .bearer_auth(token)
        .send()
        .unwrap()
}

/// Logs `email` in from a client that says `agent`; the access token.
fn login_as(service: &Service, email: &str, agent: &str) -> String {
    let client = reqwest::blocking::Client::builder()
        .user_agent(agent)
        .build()
        .unwrap();
    let response = client
        .post(service.url("/api/auth/login"))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    access_token(&response.json().unwrap())
}

#[test]
fn sessions_list_each_login_with_its_device_newest_first() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    let long_agent = "A".repeat(300);
    let first = login_as(&service, &email, &long_agent);
    let second = login_as(&service, &email, "Phone/2.0");
    let response = get(
        &service,
        &service.plain(),
        "/api/users/me/sessions",
        &second,
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["user_agent"], "Phone/2.0");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[1]["user_agent"].as_str().unwrap().len(), 256);
    // Spin's client address without its port, never X-Forwarded-For.
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let mut keys: Vec<&String> = sessions[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip",
            "last_used_at",
            "user_agent"
        ]
    );
    let sid = jwt_part(&second, 1)["sid"].clone();
    assert_eq!(sessions[0]["id"], sid);
    assert!(sessions[0]["created_at"].as_str().unwrap().ends_with('Z'));
    drop(first);
}

#[test]
fn ending_a_session_fails_its_tokens_at_once_and_anything_else_is_not_found() {
    let service = Service::start();
    let phone = service.browser();
    let (email, _, _) = register_and_login(&service, &phone);
    let laptop = login_as(&service, &email, "Laptop/1.0");
    let sessions: Value = get(
        &service,
        &service.plain(),
        "/api/users/me/sessions",
        &laptop,
    )
    .json()
    .unwrap();
    let phone_session = sessions["sessions"][1]["id"].as_str().unwrap().to_owned();
    let url = service.url(&format!("/api/users/me/sessions/{phone_session}"));
    let response = service
        .plain()
        .delete(&url)
        .bearer_auth(&laptop)
        .send()
        .unwrap();
    assert_eq!(detail(response), (200, Value::Null));
    // The phone's access cookie and refresh cookie stop working at once.
    assert_eq!(me_status(&service, &phone), 401);
    assert_eq!(refresh_status(&service, &phone), 401);
    // Already revoked, unknown, not a UUID, another user's: all 404.
    let other = register_and_login(&service, &service.plain()).1;
    let other_token = access_token(&other);
    let other_sid = jwt_part(&other_token, 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [
        phone_session.clone(),
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".into(),
        other_sid,
    ] {
        let url = service.url(&format!("/api/users/me/sessions/{id}"));
        let (status, message) = detail(
            service
                .plain()
                .delete(&url)
                .bearer_auth(&laptop)
                .send()
                .unwrap(),
        );
        assert_eq!((status, message), (404, json!("Session not found")), "{id}");
    }
    // The other user's session lives on; ending one's own works too.
    assert_eq!(
        get(&service, &service.plain(), "/api/users/me", &other_token).status(),
        200
    );
    let own = jwt_part(&laptop, 1)["sid"].as_str().unwrap().to_owned();
    let url = service.url(&format!("/api/users/me/sessions/{own}"));
    assert_eq!(
        service
            .plain()
            .delete(&url)
            .bearer_auth(&laptop)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(&service, &service.plain(), "/api/users/me", &laptop).status(),
        401
    );
}

#[test]
fn a_cookie_delete_from_a_foreign_origin_is_refused() {
    let service = Service::start();
    let browser = service.browser();
    let (_, body, _) = register_and_login(&service, &browser);
    let sid = jwt_part(&access_token(&body), 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = browser
        .delete(service.url(&format!("/api/users/me/sessions/{sid}")))
        .header("Origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(detail(response), (403, json!("Origin not allowed")));
    assert_eq!(me_status(&service, &browser), 200);
}

#[test]
fn the_event_log_records_what_happened_newest_first_without_secrets() {
    let service = Service::builder().var("login_max_failures", "2").start();
    let client = service.browser();
    let email = register(&service, &client);
    let wrong = json!({"email": email, "password": "wrong password"});
    for _ in 0..2 {
        post_json(&client, &service.url("/api/auth/login"), &wrong);
    }
    // Locked: the 429s record nothing more.
    assert_eq!(
        post_json(&client, &service.url("/api/auth/login"), &wrong).status(),
        429
    );
    service.db.execute("DELETE FROM login_throttle");
    let (_, cookies) = login(&service, &client, &email);
    let old_refresh = cookie_value(&cookies, "refresh_token");
    assert_eq!(refresh_status(&service, &client), 200);
    // The rotated-away token again: reuse revokes the session.
    let reuse = service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(&old_refresh)
        .send()
        .unwrap();
    assert_eq!(reuse.status(), 401);
    let token = login_as(&service, &email, "Events/1.0");
    let types = event_types(&service, &token);
    assert_eq!(
        types,
        [
            "login",
            "refresh_reuse",
            "login",
            "login_locked",
            "login_failed",
            "login_failed"
        ]
    );
    let body: Value = get(&service, &service.plain(), "/api/users/me/events", &token)
        .json()
        .unwrap();
    let text = body.to_string();
    assert!(!text.contains(&old_refresh) && !text.contains("argon2") && !text.contains(&token));
    let newest = &body["events"][0];
    let mut keys: Vec<&String> = newest.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["at", "ip", "session_id", "type", "user_agent"]);
    assert_eq!(newest["user_agent"], "Events/1.0");
    assert_eq!(newest["ip"], "127.0.0.1");
    // Failed logins for unknown emails are recorded nowhere.
    assert_eq!(
        service.db.query_i64("SELECT count(*) FROM security_events"),
        6
    );
}

#[test]
fn logout_logout_all_and_ending_a_session_are_events() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    let one = login_as(&service, &email, "One");
    let logout = service
        .plain()
        .post(service.url("/api/auth/logout"))
        .bearer_auth(&one)
        .send()
        .unwrap();
    assert_eq!(logout.status(), 200);
    let two = login_as(&service, &email, "Two");
    let three = login_as(&service, &email, "Three");
    let sid = jwt_part(&two, 1)["sid"].as_str().unwrap().to_owned();
    let url = service.url(&format!("/api/users/me/sessions/{sid}"));
    assert_eq!(
        service
            .plain()
            .delete(&url)
            .bearer_auth(&three)
            .send()
            .unwrap()
            .status(),
        200
    );
    let all = service
        .plain()
        .post(service.url("/api/auth/logout-all"))
        .bearer_auth(&three)
        .send()
        .unwrap();
    assert_eq!(all.status(), 200);
    let four = login_as(&service, &email, "Four");
    assert_eq!(
        event_types(&service, &four),
        [
            "login",
            "logout_all",
            "session_revoked",
            "login",
            "login",
            "logout",
            "login"
        ]
    );
}

#[test]
fn the_event_log_pages_with_its_cursor_and_refuses_bad_queries() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    let mut token = String::new();
    for _ in 0..5 {
        token = login_as(&service, &email, "Pager");
    }
    let page = |query: &str| -> Value {
        get(
            &service,
            &service.plain(),
            &format!("/api/users/me/events{query}"),
            &token,
        )
        .json()
        .unwrap()
    };
    let first = page("?limit=2");
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = page(&format!("?limit=2&cursor={cursor}"));
    assert_eq!(second["events"].as_array().unwrap().len(), 2);
    let last = page(&format!(
        "?limit=2&cursor={}",
        second["next_cursor"].as_str().unwrap()
    ));
    assert_eq!(last["events"].as_array().unwrap().len(), 1);
    assert_eq!(last["next_cursor"], Value::Null);
    let ats: Vec<String> = [&first, &second, &last]
        .iter()
        .flat_map(|p| p["events"].as_array().unwrap().iter())
        .map(|e| e["at"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ats, sorted, "newest first, no event twice");
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?cursor=garbage!", "cursor"),
    ] {
        let response = get(
            &service,
            &service.plain(),
            &format!("/api/users/me/events{query}"),
            &token,
        );
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
    }
    // No token: 401 before any query check.
    let anonymous = service
        .plain()
        .get(service.url("/api/users/me/events?limit=0"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[test]
fn the_new_routes_answer_mes_401s() {
    let service = Service::start();
    let client = service.plain();
    let (_, body, _) = register_and_login(&service, &client);
    let token = access_token(&body);
    for path in ["/api/users/me/sessions", "/api/users/me/events"] {
        let (status, message) = detail(client.get(service.url(path)).send().unwrap());
        assert_eq!(
            (status, message),
            (401, json!("You are not logged in")),
            "{path}"
        );
        let (status, message) = detail(get(&service, &client, path, "not.a.token"));
        assert_eq!(
            (status, message),
            (401, json!("Token is invalid or has expired"))
        );
    }
    service.db.execute(&format!(
        "UPDATE users SET verified = {}",
        if service.db.backend == Backend::Postgres {
            "false"
        } else {
            "0"
        }
    ));
    let (status, message) = detail(get(&service, &client, "/api/users/me/sessions", &token));
    assert_eq!(
        (status, message),
        (401, json!("Please verify your account"))
    );
    // An unverified user's refresh issues nothing.
    service.db.execute("DELETE FROM users");
    let (status, message) = detail(get(&service, &client, "/api/users/me/events", &token));
    assert_eq!((status, message), (401, json!("User no longer exist")));
}

#[test]
fn a_refresh_for_a_user_no_longer_verified_issues_nothing() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    service.db.execute(&format!(
        "UPDATE users SET verified = {}",
        if service.db.backend == Backend::Postgres {
            "false"
        } else {
            "0"
        }
    ));
    let response = client
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap();
    assert!(response
        .headers()
        .get_all("set-cookie")
        .iter()
        .next()
        .is_none());
    assert_eq!(
        detail(response),
        (401, json!("Could not refresh access token"))
    );
}
