//! Malformed, oversized and hostile input on every route: a clear answer per
//! the contract, nothing lost, the service stays healthy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::blocking::Body;
use serde_json::{json, Value};

const BODY_ROUTES: [&str; 2] = ["/api/auth/register", "/api/auth/login"];

fn post_raw(
    service: &Service,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::blocking::Response {
    let mut request = service.plain().post(service.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    request.send().unwrap()
}

fn assert_healthy(service: &Service) {
    let response = service
        .plain()
        .get(service.url("/api/healthchecker"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn oversized_bodies_are_413_with_or_without_a_content_length() {
    let service = Service::start();
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(20 * 1024)).into_bytes();
    for path in BODY_ROUTES {
        let declared = post_raw(&service, path, Some("application/json"), big.clone());
        assert_eq!(
            detail(declared),
            (413, json!("Request body too large")),
            "{path}"
        );
        // Chunked: no Content-Length, the limit is enforced while reading.
        let chunked = service
            .plain()
            .post(service.url(path))
            .header("content-type", "application/json")
            .body(Body::new(std::io::Cursor::new(big.clone())))
            .send()
            .unwrap();
        assert_eq!(
            detail(chunked),
            (413, json!("Request body too large")),
            "{path} chunked"
        );
        // The size check comes before the content type.
        let wrong_type = post_raw(&service, path, Some("text/plain"), big.clone());
        assert_eq!(wrong_type.status(), 413);
    }
    let just_fits = {
        let mut body = register_body(&unique_email("fits"));
        let overhead = body.to_string().len() + r#","pad":"""#.len();
        body["pad"] = json!("p".repeat(16 * 1024 - overhead));
        body.to_string().into_bytes()
    };
    assert_eq!(just_fits.len(), 16 * 1024);
    assert_eq!(
        post_raw(
            &service,
            "/api/auth/register",
            Some("application/json"),
            just_fits
        )
        .status(),
        201
    );
    assert_healthy(&service);
}

#[test]
fn bodies_that_are_not_json_are_415() {
    let service = Service::start();
    let body = register_body(&unique_email("ct")).to_string().into_bytes();
    for path in BODY_ROUTES {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
        ] {
            let response = post_raw(&service, path, content_type, body.clone());
            assert_eq!(response.status(), 415, "{path} {content_type:?}");
            assert!(detail(response).1.is_string());
        }
    }
    let with_charset = post_raw(
        &service,
        "/api/auth/register",
        Some("application/json; charset=utf-8"),
        body,
    );
    assert_eq!(with_charset.status(), 201);
    assert_eq!(
        service.db.query_i64("SELECT count(*) FROM users"),
        1,
        "nothing else was stored"
    );
}

#[test]
fn malformed_json_and_non_objects_are_422_at_body() {
    let service = Service::start();
    let bodies: [&[u8]; 8] = [
        b"{",
        b"{\"email\": }",
        b"[]",
        b"\"string\"",
        b"42",
        b"null",
        b"\xff\xfe{}",
        b"",
    ];
    for path in BODY_ROUTES {
        for body in bodies {
            let response = post_raw(&service, path, Some("application/json"), body.to_vec());
            let (status, detail) = detail(response);
            assert_eq!(status, 422, "{path} {body:?}");
            assert_eq!(detail[0]["loc"][0], "body", "{detail}");
        }
    }
    assert_healthy(&service);
}

#[test]
fn routes_without_a_body_ignore_one_that_is_sent() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    let refresh = client
        .post(service.url("/api/auth/refresh"))
        .header("content-type", "text/plain")
        .body("whatever")
        .send()
        .unwrap();
    assert_eq!(refresh.status(), 200);
    let me = client
        .get(service.url("/api/users/me"))
        .header("content-type", "application/xml")
        .body("<x/>")
        .send()
        .unwrap();
    assert_eq!(me.status(), 200);
    let health = service
        .plain()
        .get(service.url("/api/healthchecker"))
        .body(vec![b'x'; 40_000])
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn hostile_credentials_are_plain_401s() {
    let service = Service::start();
    let client = service.plain();
    let huge = "a".repeat(6000);
    let cases: Vec<(String, String)> = vec![
        ("authorization".into(), format!("Bearer {huge}")),
        (
            "authorization".into(),
            "Bearer eyJhbGciOiJub25lIn0.e30.".into(),
        ),
        ("authorization".into(), "Basic dXNlcjpwYXNz".into()),
        ("cookie".into(), format!("access_token={huge}")),
        (
            "cookie".into(),
            "access_token=\"; DROP TABLE users; --".into(),
        ),
    ];
    for (name, value) in &cases {
        let response = client
            .get(service.url("/api/users/me"))
            .header(name, value)
            .send()
            .unwrap();
        assert_eq!(
            response.status(),
            401,
            "{name}: {}",
            &value[..value.len().min(40)]
        );
    }
    for (name, value) in &cases {
        let response = client
            .post(service.url("/api/auth/refresh"))
            .header(name, value)
            .send()
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
    assert_healthy(&service);
}

#[test]
fn concurrent_garbage_does_not_disturb_real_users() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let service = &service;
            scope.spawn(move || {
                let body = match i % 4 {
                    0 => b"{".to_vec(),
                    1 => vec![0u8; 20_000],
                    2 => json!({"email": "' OR 1=1 --@x.io", "password": "x"})
                        .to_string()
                        .into_bytes(),
                    _ => json!({"name": "\u{0}", "email": 5})
                        .to_string()
                        .into_bytes(),
                };
                for path in BODY_ROUTES {
                    let status = post_raw(service, path, Some("application/json"), body.clone())
                        .status()
                        .as_u16();
                    assert!([400, 413, 422].contains(&status), "{path} {status}");
                }
            });
        }
        let me: Value = client
            .get(service.url("/api/users/me"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(me["email"].is_string());
    });
    assert_eq!(service.db.query_i64("SELECT count(*) FROM users"), 1);
}

/// The signed-in body routes of two-factor and admin: an admin's token
/// (the admin routes need one; the two-factor routes take any user's).
fn signed_in_admin(service: &Service) -> (String, String) {
    let (email, body, _) = register_and_login(service, &service.plain());
    service.db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE email = '{email}'"
    ));
    let token = access_token(&body);
    let me: Value = service
        .plain()
        .get(service.url("/api/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    (token, me["id"].as_str().unwrap().to_owned())
}

#[test]
fn two_factor_and_admin_bodies_are_checked_before_anything_changes() {
    let service = Service::builder()
        .var(
            "mfa_encryption_key",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .start();
    let (token, id) = signed_in_admin(&service);
    let admin_path = format!("/api/admin/users/{id}");
    let routes: [(reqwest::Method, &str); 5] = [
        (reqwest::Method::POST, "/api/users/me/mfa/totp"),
        (reqwest::Method::POST, "/api/users/me/mfa/totp/confirm"),
        (reqwest::Method::DELETE, "/api/users/me/mfa/totp"),
        (reqwest::Method::POST, "/api/auth/login/mfa"),
        (reqwest::Method::PATCH, &admin_path),
    ];
    let send = |method: &reqwest::Method, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = service
            .plain()
            .request(method.clone(), service.url(path))
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().unwrap().status().as_u16()
    };
    for (method, path) in &routes {
        let big = format!("{{\"code\": \"{}\"}}", "1".repeat(20 * 1024)).into_bytes();
        assert_eq!(
            send(method, path, Some("application/json"), big),
            413,
            "{method} {path}"
        );
        assert_eq!(
            send(method, path, Some("text/plain"), b"{}".to_vec()),
            415,
            "{method} {path}"
        );
        for body in [&b"{"[..], b"[]", b"null", b"\xff{}"] {
            let status = send(method, path, Some("application/json"), body.to_vec());
            assert_eq!(status, 422, "{method} {path} {body:?}");
        }
        let wrong_types = json!({"password": 5, "code": ["1"], "mfa_token": {}, "verified": "yes",
                                 "role": 1, "disabled": 0});
        let status = send(
            method,
            path,
            Some("application/json"),
            wrong_types.to_string().into_bytes(),
        );
        assert_eq!(status, 422, "{method} {path}");
    }
    // Hostile codes are plain wrong codes.
    let enrolled = send(
        &reqwest::Method::POST,
        "/api/users/me/mfa/totp",
        Some("application/json"),
        json!({"password": PASSWORD}).to_string().into_bytes(),
    );
    assert_eq!(enrolled, 200);
    for code in ["' OR 1=1 --", "12345\u{0}", "١٢٣٤٥٦", "🔑🔑🔑", "000000"] {
        let body = json!({"code": code}).to_string().into_bytes();
        let status = send(
            &reqwest::Method::POST,
            "/api/users/me/mfa/totp/confirm",
            Some("application/json"),
            body,
        );
        assert_eq!(status, 400, "{code:?}");
    }
    // Nothing changed: the factor is still pending, the admin still an
    // admin, and the service healthy.
    assert_eq!(
        service
            .db
            .query_i64("SELECT count(*) FROM mfa_factors WHERE confirmed_at IS NULL"),
        1
    );
    assert_eq!(
        service
            .db
            .query_i64("SELECT count(*) FROM mfa_recovery_codes"),
        0
    );
    assert_eq!(service.db.query_text("SELECT role FROM users"), "admin");
    assert_healthy(&service);
}

#[test]
fn parallel_enrollments_leave_one_pending_factor_that_confirms() {
    let service = Service::builder()
        .var(
            "mfa_encryption_key",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .var("login_max_failures", "100")
        .start();
    let (token, _) = signed_in_admin(&service);
    let secrets: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let response = service
                        .plain()
                        .post(service.url("/api/users/me/mfa/totp"))
                        .bearer_auth(&token)
                        .json(&json!({"password": PASSWORD}))
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let body: Value = response.json().unwrap();
                    body["secret"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(service.db.query_i64("SELECT count(*) FROM mfa_factors"), 1);
    // Exactly one of the secrets handed out is the one kept: it confirms.
    let confirmed: Vec<u16> = secrets
        .iter()
        .map(|secret| {
            let code =
                common::authenticator::code(&common::authenticator::decode_secret(secret), 0);
            service
                .plain()
                .post(service.url("/api/users/me/mfa/totp/confirm"))
                .bearer_auth(&token)
                .json(&json!({"code": code}))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(
        confirmed.iter().filter(|s| **s == 200).count(),
        1,
        "{confirmed:?}"
    );
}
