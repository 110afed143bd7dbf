//! CSRF and CORS for browsers (docs/API.md, Browsers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const REFUSED: (u16, &str) = (403, "Origin not allowed");

fn refused(response: reqwest::blocking::Response) {
    let (status, message) = detail(response);
    assert_eq!((status, message), (REFUSED.0, json!(REFUSED.1)));
}

#[test]
fn cookie_posts_from_foreign_or_null_origins_are_refused_and_spend_nothing() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    for origin in ["https://evil.example", "null"] {
        refused(
            client
                .post(service.url("/api/auth/refresh"))
                .header("origin", origin)
                .send()
                .unwrap(),
        );
        refused(
            client
                .post(service.url("/api/auth/logout"))
                .header("origin", origin)
                .send()
                .unwrap(),
        );
        refused(
            client
                .post(service.url("/api/auth/logout-all"))
                .header("origin", origin)
                .send()
                .unwrap(),
        );
    }
    // Nothing was spent or revoked: the session still refreshes.
    assert_eq!(refresh_status(&service, &client), 200);
}

#[test]
fn cookie_posts_from_the_front_end_or_the_service_itself_are_allowed() {
    let service = Service::builder()
        .var(
            "client_origin",
            "http://localhost:3000,https://app.example.com",
        )
        .start();
    let client = service.browser();
    register_and_login(&service, &client);
    let front_end = client
        .post(service.url("/api/auth/refresh"))
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    assert_eq!(front_end.status(), 200);
    assert_eq!(
        front_end.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        front_end.headers()["access-control-allow-credentials"],
        "true"
    );
    let own = client
        .post(service.url("/api/auth/refresh"))
        .header("origin", service.base.as_str())
        .send()
        .unwrap();
    assert_eq!(own.status(), 200);
}

#[test]
fn bearer_requests_are_not_subject_to_the_origin_check() {
    let service = Service::start();
    let client = service.browser();
    let (_, _, cookies) = register_and_login(&service, &client);
    let refresh = cookie_value(&cookies, "refresh_token");
    let response = service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(&refresh)
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn cross_site_gets_to_refresh_and_logout_are_refused_and_spend_nothing() {
    let service = Service::start();
    let client = service.browser();
    let (_, body, _) = register_and_login(&service, &client);
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        refused(
            client
                .get(service.url(path))
                .header("sec-fetch-site", "cross-site")
                .send()
                .unwrap(),
        );
    }
    let access = body["access_token"].as_str().unwrap();
    let me = service
        .plain()
        .get(service.url("/api/users/me"))
        .bearer_auth(access)
        .send()
        .unwrap();
    assert_eq!(me.status(), 200, "logout was not carried out");
    // A front end's fetch carries its Origin and is allowed.
    let fetch = client
        .get(service.url("/api/auth/refresh"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "http://localhost:3000")
        .send()
        .unwrap();
    assert_eq!(fetch.status(), 200, "the refresh token was not spent");
    let same_site = client
        .get(service.url("/api/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(same_site.status(), 200);
}

#[test]
fn only_allowed_origins_get_cors_headers_and_every_response_varies_by_origin() {
    let service = Service::start();
    let client = service.plain();
    let allowed = client
        .get(service.url("/api/healthchecker"))
        .header("origin", "http://localhost:3000")
        .send()
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(allowed.headers()["vary"], "Origin");
    let foreign = client
        .get(service.url("/api/healthchecker"))
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert!(foreign
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let error = client
        .get(service.url("/nope"))
        .header("origin", "http://localhost:3000")
        .send()
        .unwrap();
    assert_eq!(error.headers()["vary"], "Origin");
    assert_eq!(
        error.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[test]
fn a_client_cannot_forge_the_spin_full_url_its_own_origin_comes_from() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    // The runner, like Spin, sets spin-full-url itself: a client-sent one
    // must not make a foreign Origin look like the service's own.
    let response = client
        .post(service.url("/api/auth/refresh"))
        .header("spin-full-url", "https://evil.example/api/auth/refresh")
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    refused(response);
}
