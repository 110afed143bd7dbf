//! `POST /api/auth/register` (docs/API.md, Routes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

fn register_with(service: &Service, body: &Value) -> reqwest::blocking::Response {
    post_json(&service.plain(), &service.url("/api/auth/register"), body)
}

fn failed_fields(response: reqwest::blocking::Response) -> Vec<String> {
    let (status, detail) = detail(response);
    assert_eq!(status, 422, "{detail}");
    detail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["msg"].is_string() && e["type"].is_string(), "{e}");
            e["loc"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect()
}

#[test]
fn register_returns_201_with_the_user_object() {
    let service = Service::start();
    let email = unique_email("Ada");
    let body = json!({"name": "  Ada Lovelace ", "email": format!("  {}  ", email.to_uppercase()),
                      "password": PASSWORD, "passwordConfirm": PASSWORD,
                      "role": "admin", "verified": false, "id": "00000000-0000-0000-0000-000000000000",
                      "created_at": "2000-01-01T00:00:00Z"});
    let response = register_with(&service, &body);
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    let user: Value = response.json().unwrap();
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "id",
            "name",
            "photo",
            "role",
            "updated_at",
            "verified"
        ]
    );
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], email.to_lowercase());
    assert_eq!(user["photo"], Value::Null);
    assert_eq!(user["role"], "user");
    assert_eq!(user["verified"], true);
    assert_ne!(user["id"], "00000000-0000-0000-0000-000000000000");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    for field in ["created_at", "updated_at"] {
        let stamp = user[field].as_str().unwrap();
        assert!(
            stamp.ends_with('Z') && stamp.len() == 27,
            "{field}: {stamp}"
        );
        assert!(!stamp.starts_with("2000"), "{stamp}");
    }
    let stored = service.db.query_i64(&format!(
        "SELECT count(*) FROM users WHERE email = '{}' AND role = 'user' AND verified",
        email.to_lowercase()
    ));
    assert_eq!(stored, 1);
}

#[test]
fn the_password_is_stored_as_an_argon2id_phc_string() {
    let service = Service::start();
    let email = unique_email("hash");
    register_with(&service, &register_body(&email));
    let hash = service.db.query_text(&format!(
        "SELECT password FROM users WHERE email = '{email}'"
    ));
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[test]
fn photo_is_optional_and_stored() {
    let service = Service::start();
    let mut body = register_body(&unique_email("photo"));
    body["photo"] = json!("https://example.com/a.png");
    let user: Value = register_with(&service, &body).json().unwrap();
    assert_eq!(user["photo"], "https://example.com/a.png");
    let mut body = register_body(&unique_email("photo"));
    body["photo"] = Value::Null;
    let user: Value = register_with(&service, &body).json().unwrap();
    assert_eq!(user["photo"], Value::Null);
}

#[test]
fn mismatched_confirmation_is_400_before_the_email_is_checked() {
    let service = Service::start();
    let email = unique_email("dup");
    assert_eq!(
        register_with(&service, &register_body(&email)).status(),
        201
    );
    let mut body = register_body(&email);
    body["passwordConfirm"] = json!("password124");
    assert_eq!(
        detail(register_with(&service, &body)),
        (400, json!("Passwords do not match"))
    );
}

#[test]
fn an_email_registered_in_any_letter_case_is_409() {
    let service = Service::start();
    let email = unique_email("case");
    assert_eq!(
        register_with(&service, &register_body(&email)).status(),
        201
    );
    let again = register_with(&service, &register_body(&email.to_uppercase()));
    assert_eq!(detail(again), (409, json!("Account already exist")));
}

#[test]
fn twenty_concurrent_registrations_of_one_email_make_exactly_one_user() {
    let service = Service::start();
    let email = unique_email("race");
    let statuses = statuses_in_parallel(20, || register_with(&service, &register_body(&email)));
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        service.db.query_i64(&format!(
            "SELECT count(*) FROM users WHERE email = '{email}'"
        )),
        1
    );
}

#[test]
fn missing_fields_and_wrong_types_are_listed_in_one_422() {
    let service = Service::start();
    let response = register_with(
        &service,
        &json!({"email": 123, "password": ["x"], "name": true}),
    );
    assert_eq!(
        failed_fields(response),
        [
            "body.name",
            "body.email",
            "body.password",
            "body.passwordConfirm"
        ]
    );
    // No coercion of numbers to strings.
    let body = json!({"name": 5, "email": unique_email("t"), "password": 12345678, "passwordConfirm": 12345678});
    assert_eq!(
        failed_fields(register_with(&service, &body)),
        ["body.name", "body.password", "body.passwordConfirm"]
    );
}

#[test]
fn length_limits_are_inclusive_code_points() {
    let service = Service::start();
    let mut body = register_body(&unique_email("len"));
    body["name"] = json!("名".repeat(100));
    body["password"] = json!("ü".repeat(128));
    body["passwordConfirm"] = body["password"].clone();
    body["photo"] = json!("p".repeat(2048));
    let response = register_with(&service, &body);
    assert_eq!(response.status(), 201);
    let user: Value = response.json().unwrap();
    assert_eq!(user["name"].as_str().unwrap().chars().count(), 100);

    let mut body = register_body(&unique_email("len"));
    body["name"] = json!("名".repeat(101));
    body["password"] = json!("ü".repeat(129));
    body["passwordConfirm"] = body["password"].clone();
    body["photo"] = json!("p".repeat(2049));
    assert_eq!(
        failed_fields(register_with(&service, &body)),
        ["body.name", "body.password", "body.photo"]
    );

    let mut body = register_body(&unique_email("len"));
    body["password"] = json!("1234567");
    body["passwordConfirm"] = json!("1234567");
    body["name"] = json!("   ");
    assert_eq!(
        failed_fields(register_with(&service, &body)),
        ["body.name", "body.password"]
    );
}

#[test]
fn a_ten_thousand_character_password_is_422_and_nothing_is_stored() {
    let service = Service::start();
    let email = unique_email("long");
    let mut body = register_body(&email);
    // Sent twice (with its confirmation) it would pass 16 KiB and be a 413.
    body["password"] = json!("x".repeat(10_000));
    body["passwordConfirm"] = json!("x");
    assert_eq!(
        failed_fields(register_with(&service, &body)),
        ["body.password"]
    );
    let mut login = serde_json::Map::new();
    login.insert("email".into(), json!(email));
    login.insert("password".into(), json!("x".repeat(10_000)));
    let response = post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &Value::Object(login),
    );
    assert_eq!(failed_fields(response), ["body.password"]);
    assert_eq!(service.db.query_i64("SELECT count(*) FROM users"), 0);
}

#[test]
fn a_254_character_email_is_accepted() {
    let service = Service::start();
    let email = format!("{}@example.com", "a".repeat(242));
    assert_eq!(email.chars().count(), 254);
    assert_eq!(
        register_with(&service, &register_body(&email)).status(),
        201
    );
}

#[test]
fn invalid_emails_are_422() {
    let service = Service::start();
    let long = format!("{}@example.com", "a".repeat(243));
    for email in [
        "plain",
        "a@b",
        "@example.com",
        "Ada <ada@example.com>",
        "a b@example.com",
        "a@@example.com",
        long.as_str(),
        "",
    ] {
        let body = register_body(email);
        assert_eq!(
            failed_fields(register_with(&service, &body)),
            ["body.email"],
            "{email}"
        );
    }
}

#[test]
fn hostile_strings_are_stored_verbatim() {
    let service = Service::start();
    let name = "Robert'); DROP TABLE users;-- 😀 <script>alert(1)</script>";
    let mut body = register_body(&unique_email("bobby"));
    body["name"] = json!(name);
    let response = register_with(&service, &body);
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().unwrap()["name"], name);
    assert_eq!(service.db.query_i64("SELECT count(*) FROM users"), 1);
}

#[test]
fn nul_bytes_are_422_not_a_database_error() {
    let service = Service::start();
    let mut body = register_body(&unique_email("nul"));
    body["name"] = json!("A\u{0}B");
    assert_eq!(failed_fields(register_with(&service, &body)), ["body.name"]);
    let mut body = register_body(&unique_email("nul"));
    body["password"] = json!("pass\u{0}word123");
    body["passwordConfirm"] = body["password"].clone();
    assert_eq!(register_with(&service, &body).status(), 201);
}

#[test]
fn field_rules_come_before_the_password_confirmation() {
    let service = Service::start();
    let mut body = register_body("not-an-email");
    body["passwordConfirm"] = json!("something-else");
    assert_eq!(
        failed_fields(register_with(&service, &body)),
        ["body.email"]
    );
}
