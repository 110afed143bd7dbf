//! The OpenAPI document describes exactly the routes the service serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;

fn document(service: &Service) -> Value {
    let response = service
        .plain()
        .get(service.url("/api/openapi.json"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[test]
fn the_document_is_openapi_3_1_with_schemas() {
    let service = Service::start();
    let doc = document(&service);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let register = &doc["paths"]["/api/auth/register"]["post"];
    assert!(register["requestBody"]["content"]["application/json"]["schema"].is_object());
    assert!(register["responses"]["201"].is_object());
    assert!(doc["components"]["schemas"]["User"]["properties"]["email"].is_object());
}

#[test]
fn every_documented_operation_is_served_and_every_served_one_documented() {
    // Discovery answers `404` without an `https://` `jwt_issuer`.
    let service = Service::builder()
        .var("jwt_issuer", "https://auth.example.com")
        .start();
    let doc = document(&service);
    let client = service.plain();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let served = client
                .request(method.to_uppercase().parse().unwrap(), service.url(path))
                .send()
                .unwrap();
            let status = served.status().as_u16();
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but answers {status}"
                );
                let responses = item[method]["responses"].as_object().unwrap();
                assert!(
                    responses.contains_key(&status.to_string()),
                    "{method} {path}: {status} not documented"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
    documented.sort();
    let expected = [
        "DELETE /api/admin/users/{id}",
        "DELETE /api/users/me",
        "DELETE /api/users/me/mfa/totp",
        "DELETE /api/users/me/sessions/{id}",
        "GET /.well-known/jwks.json",
        "GET /.well-known/openid-configuration",
        "GET /api/admin/users",
        "GET /api/admin/users/{id}",
        "GET /api/auth/logout",
        "GET /api/auth/refresh",
        "GET /api/healthchecker",
        "GET /api/openapi.json",
        "GET /api/users/me",
        "GET /api/users/me/events",
        "GET /api/users/me/sessions",
        "PATCH /api/admin/users/{id}",
        "PATCH /api/users/me",
        "POST /api/admin/users/{id}/logout-all",
        "POST /api/auth/forgot-password",
        "POST /api/auth/login",
        "POST /api/auth/login/mfa",
        "POST /api/auth/logout",
        "POST /api/auth/logout-all",
        "POST /api/auth/refresh",
        "POST /api/auth/register",
        "POST /api/auth/resend-verification",
        "POST /api/auth/reset-password",
        "POST /api/auth/verify-email",
        "POST /api/users/me/mfa/totp",
        "POST /api/users/me/mfa/totp/confirm",
        "POST /api/users/me/password",
    ];
    assert_eq!(documented, expected);
}
