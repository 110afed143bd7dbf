//! Refresh-token rotation, reuse detection, revocation and logout
//! (docs/API.md, Routes: refresh, logout, logout-all).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::blocking::Client;
use serde_json::{json, Value};

const COULD_NOT_REFRESH: &str = "Could not refresh access token";

fn refresh_with(service: &Service, token: &str) -> reqwest::blocking::Response {
    service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn me_status(service: &Service, access: &str) -> u16 {
    service
        .plain()
        .get(service.url("/api/users/me"))
        .bearer_auth(access)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Sets every session's `column` (an expiry) to a second ago.
fn expire_sessions(service: &Service, column: &str) {
    service.db.execute(&format!(
        "UPDATE sessions SET {column} = {}",
        service.db.seconds_ago(1)
    ));
}

/// Logs a new user in; returns (client, access token, refresh token).
fn session(service: &Service) -> (Client, String, String) {
    let client = service.browser();
    let (_, body, cookies) = register_and_login(service, &client);
    let access = body["access_token"].as_str().unwrap().to_owned();
    (client, access, cookie_value(&cookies, "refresh_token"))
}

#[test]
fn refresh_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let service = Service::start();
    let (client, access, refresh) = session(&service);
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = client
            .request(method, service.url("/api/auth/refresh"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookies = set_cookies(&response);
        let body: Value = response.json().unwrap();
        let new_access = body["access_token"].as_str().unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_ne!(new_access, access);
        assert_eq!(cookie_value(&cookies, "access_token"), new_access);
        assert!(cookie(&cookies, "logged_in").starts_with("logged_in=True"));
        let new_refresh = cookie_value(&cookies, "refresh_token");
        assert_ne!(new_refresh, refresh);
        assert!(cookie(&cookies, "refresh_token").contains("Path=/api/auth"));
        assert!(cookie(&cookies, "refresh_token").contains("HttpOnly"));
        assert_eq!(jwt_part(new_access, 1)["sid"], jwt_part(&access, 1)["sid"]);
        assert_eq!(me_status(&service, new_access), 200);
    }
    // The database keeps only hashes.
    let plain = service.db.query_i64(&format!(
        "SELECT count(*) FROM sessions WHERE {}",
        service.db.bytes_contain("refresh_token_hash", &refresh)
    ));
    assert_eq!(plain, 0);
}

#[test]
fn a_reused_refresh_token_revokes_the_whole_session() {
    let service = Service::start();
    let (_, access, first) = session(&service);
    let rotated = refresh_with(&service, &first);
    assert_eq!(rotated.status(), 200);
    let newest = cookie_value(&set_cookies(&rotated), "refresh_token");

    assert_eq!(
        detail(refresh_with(&service, &first)),
        (401, json!(COULD_NOT_REFRESH)),
        "reuse"
    );
    assert_eq!(
        detail(refresh_with(&service, &newest)),
        (401, json!(COULD_NOT_REFRESH)),
        "the newest dies too"
    );
    assert_eq!(
        me_status(&service, &access),
        401,
        "and so do its access tokens"
    );
    let reason = service
        .db
        .query_i64("SELECT count(*) FROM sessions WHERE revoked_reason = 'refresh_token_reuse'");
    assert_eq!(reason, 1);
    assert!(
        service.logs().contains("refresh token reuse"),
        "a security event is logged"
    );
    assert!(!service.logs().contains(&first), "never the token");
}

#[test]
fn ten_concurrent_refreshes_with_one_token_let_exactly_one_win() {
    let service = Service::start();
    let (_, _, refresh) = session(&service);
    let statuses = statuses_in_parallel(10, || refresh_with(&service, &refresh));
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(
        service
            .db
            .query_i64("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL"),
        1
    );
}

#[test]
fn refresh_without_a_token_asks_for_one() {
    let service = Service::start();
    let expected = (401, json!("Please provide refresh token"));
    let client = service.plain();
    assert_eq!(
        detail(
            client
                .post(service.url("/api/auth/refresh"))
                .send()
                .unwrap()
        ),
        expected
    );
    let empty_cookie = client
        .get(service.url("/api/auth/refresh"))
        .header("cookie", "refresh_token=")
        .send()
        .unwrap();
    assert_eq!(detail(empty_cookie), expected);
    let empty_bearer = client
        .post(service.url("/api/auth/refresh"))
        .header("authorization", "Bearer ")
        .send()
        .unwrap();
    assert_eq!(detail(empty_bearer), expected);
}

#[test]
fn unknown_and_malformed_refresh_tokens_are_401() {
    let service = Service::start();
    for token in ["unknown-token", "x".repeat(5000).as_str(), "' OR 1=1 --"] {
        assert_eq!(
            detail(refresh_with(&service, token)),
            (401, json!(COULD_NOT_REFRESH)),
            "{token}"
        );
    }
}

#[test]
fn refresh_for_a_deleted_user_says_so() {
    let service = Service::start();
    let (client, _, _) = session(&service);
    service.db.execute("DELETE FROM users");
    // On SQLite the deletion's trigger revokes the user's sessions itself
    // (PostgreSQL's DELETE /api/users/me does it in its statement).
    let live = || {
        service
            .db
            .query_i64("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
    };
    let live_after_delete = live();
    for _ in 0..2 {
        // Nothing is spent: the same answer every time.
        let response = client
            .post(service.url("/api/auth/refresh"))
            .send()
            .unwrap();
        assert_eq!(
            detail(response),
            (
                401,
                json!("The user belonging to this token no longer exist")
            )
        );
    }
    assert_eq!(live(), live_after_delete, "a refresh revoked something");
    assert_eq!(
        live_after_delete,
        i64::from(service.db.url().starts_with("postgres"))
    );
}

#[test]
fn the_refresh_cookie_never_outlives_the_absolute_timeout() {
    let service = Service::builder()
        .var("session_absolute_timeout_minutes", "30")
        .start();
    let client = service.browser();
    let (_, _, cookies) = register_and_login(&service, &client);
    assert!(
        cookie(&cookies, "refresh_token").contains("Max-Age=1800"),
        "{cookies:?}"
    );
    let response = client
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap();
    let max_age: i64 = cookie(&set_cookies(&response), "refresh_token")
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1790..=1800).contains(&max_age), "{max_age}");
}

#[test]
fn the_absolute_timeout_ends_a_session_that_keeps_refreshing() {
    let service = Service::start();
    let (client, _, _) = session(&service);
    assert_eq!(refresh_status(&service, &client), 200);
    // Move the login far enough into the past (the setting counts minutes).
    expire_sessions(&service, "absolute_expires_at");
    let response = client
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap();
    assert_eq!(detail(response), (401, json!(COULD_NOT_REFRESH)));
    assert_eq!(
        client
            .get(service.url("/api/users/me"))
            .send()
            .unwrap()
            .status(),
        401
    );
}

#[test]
fn the_grace_window_answers_a_racing_refresh_without_killing_the_session() {
    let service = Service::builder()
        .var("refresh_reuse_grace_seconds", "10")
        .start();
    let (_, _, first) = session(&service);
    let winner = refresh_with(&service, &first);
    let newest = cookie_value(&set_cookies(&winner), "refresh_token");
    let late = refresh_with(&service, &first);
    assert_eq!(late.status(), 200);
    let cookies = set_cookies(&late);
    assert!(
        cookies.iter().all(|c| !c.starts_with("refresh_token=")),
        "{cookies:?}"
    );
    let body: Value = late.json().unwrap();
    assert_eq!(
        me_status(&service, body["access_token"].as_str().unwrap()),
        200
    );
    assert_eq!(
        refresh_with(&service, &newest).status(),
        200,
        "the session lives on"
    );
}

#[test]
fn logout_revokes_the_session_and_clears_the_cookies() {
    let service = Service::start();
    let (client, access, refresh) = session(&service);
    let response = client.post(service.url("/api/auth/logout")).send().unwrap();
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    for (name, path) in [
        ("access_token", "Path=/"),
        ("refresh_token", "Path=/api/auth"),
        ("logged_in", "Path=/"),
    ] {
        let c = cookie(&cookies, name);
        assert!(c.contains("Max-Age=0") && c.contains(path), "{c}");
    }
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"status": "success"})
    );
    assert_eq!(me_status(&service, &access), 401);
    assert_eq!(
        detail(refresh_with(&service, &refresh)),
        (401, json!(COULD_NOT_REFRESH))
    );
    // The jar was cleared: no credential left.
    let again = client.get(service.url("/api/auth/logout")).send().unwrap();
    assert_eq!(detail(again), (401, json!("You are not logged in")));
}

#[test]
fn logout_with_only_a_refresh_token_works() {
    let service = Service::start();
    let (_, access, refresh) = session(&service);
    let response = service
        .plain()
        .get(service.url("/api/auth/logout"))
        .bearer_auth(&refresh)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(me_status(&service, &access), 401);
    let cookie_only = session(&service);
    let response = service
        .plain()
        .post(service.url("/api/auth/logout"))
        .header("cookie", format!("refresh_token={}", cookie_only.2))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(me_status(&service, &cookie_only.1), 401);
}

#[test]
fn logout_without_valid_credentials_is_401() {
    let service = Service::start();
    let client = service.plain();
    assert_eq!(
        detail(client.post(service.url("/api/auth/logout")).send().unwrap()),
        (401, json!("You are not logged in"))
    );
    let bogus = client
        .post(service.url("/api/auth/logout"))
        .bearer_auth("a.b.c")
        .send()
        .unwrap();
    assert_eq!(detail(bogus), (401, json!("You are not logged in")));
}

#[test]
fn logout_all_revokes_every_session_of_the_user_only() {
    let service = Service::start();
    let client_a1 = service.browser();
    let (email, body_a1, _) = register_and_login(&service, &client_a1);
    let client_a2 = service.browser();
    let (body_a2, cookies_a2) = login(&service, &client_a2, &email);
    let (_, access_b, refresh_b) = session(&service);

    let response = client_a1
        .post(service.url("/api/auth/logout-all"))
        .send()
        .unwrap();
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"status": "success"})
    );
    assert_eq!(
        me_status(&service, body_a1["access_token"].as_str().unwrap()),
        401
    );
    assert_eq!(
        me_status(&service, body_a2["access_token"].as_str().unwrap()),
        401
    );
    assert_eq!(
        refresh_with(&service, &cookie_value(&cookies_a2, "refresh_token")).status(),
        401
    );
    assert_eq!(
        me_status(&service, &access_b),
        200,
        "other users keep their sessions"
    );
    assert_eq!(refresh_with(&service, &refresh_b).status(), 200);

    let unauthenticated = service
        .plain()
        .post(service.url("/api/auth/logout-all"))
        .send()
        .unwrap();
    assert_eq!(
        detail(unauthenticated),
        (401, json!("You are not logged in"))
    );
    let get = service
        .plain()
        .get(service.url("/api/auth/logout-all"))
        .send()
        .unwrap();
    assert_eq!(get.status(), 405);

    let (again, _) = login(&service, &client_a1, &email);
    assert_eq!(
        me_status(&service, again["access_token"].as_str().unwrap()),
        200,
        "a new login works"
    );
}

#[test]
fn replicas_share_sessions_through_the_database() {
    let primary = Service::start();
    let replica = primary.replica().start();
    let (_, access, first) = session(&primary);
    assert_eq!(me_status(&replica, &access), 200);
    let rotated = refresh_with(&replica, &first);
    assert_eq!(rotated.status(), 200);
    let newest = cookie_value(&set_cookies(&rotated), "refresh_token");
    assert_eq!(
        refresh_with(&primary, &first).status(),
        401,
        "reuse seen by the other instance"
    );
    assert_eq!(refresh_with(&replica, &newest).status(), 401);
    assert_eq!(me_status(&replica, &access), 401);
}

#[test]
fn a_refresh_token_past_its_sliding_expiry_is_refused() {
    let service = Service::start();
    let (client, _, _) = session(&service);
    // The current refresh token's own lifetime ran out; the session's
    // absolute timeout did not.
    expire_sessions(&service, "expires_at");
    let response = client
        .post(service.url("/api/auth/refresh"))
        .send()
        .unwrap();
    assert_eq!(detail(response), (401, json!(COULD_NOT_REFRESH)));
}
