//! The platform: the runner serves the component like `spin up`, and fails
//! clearly when it cannot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use serde_json::{json, Value};

#[test]
fn healthchecker_says_hello_world() {
    let service = Service::start();
    let response = service
        .plain()
        .get(service.url("/api/healthchecker"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["vary"], "Origin");
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"message": "Hello World"})
    );
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let service = Service::start();
    let client = service.plain();
    let (status, message) = detail(client.get(service.url("/api/nope")).send().unwrap());
    assert_eq!((status, message), (404, json!("Not Found")));

    let response = client.put(service.url("/api/users/me")).send().unwrap();
    assert_eq!(response.headers()["allow"], "GET, PATCH, DELETE");
    assert_eq!(detail(response), (405, json!("Method Not Allowed")));

    let response = client.put(service.url("/api/auth/refresh")).send().unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_eq!(response.status(), 405);
}

#[test]
fn every_request_is_logged_as_one_line_without_secrets() {
    let service = Service::start();
    let client = service.browser();
    let (_, body, _) = register_and_login(&service, &client);
    let token = body["access_token"].as_str().unwrap().to_owned();
    client.get(service.url("/api/users/me?x=1")).send().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = service.logs();
    let me_line = logs
        .lines()
        .find(|l| l.contains("/api/users/me"))
        .expect("a log line for /me");
    assert!(
        me_line.contains("GET") && me_line.contains("200"),
        "{me_line}"
    );
    assert!(!logs.contains(&token), "a token reached the log");
    assert!(!logs.contains(PASSWORD), "a password reached the log");
    assert!(!logs.contains("BEGIN"), "key material reached the log");
}

fn runner_up(envs: &[(&str, &str)], extra_args: &[&str]) -> std::process::Output {
    let mut command = Command::new(runner_binary());
    command
        .current_dir(repo_root())
        .args(["up", "--listen", "127.0.0.1:0"])
        .args(extra_args);
    for (name, _) in std::env::vars() {
        if name.starts_with("SPIN_VARIABLE_") {
            command.env_remove(name);
        }
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().expect("run the runner")
}

#[test]
fn a_missing_required_variable_stops_startup_with_spins_message() {
    let output = runner_up(&[("SPIN_VARIABLE_JWT_PUBLIC_KEY", "x")], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"no provider resolved required variable(s): [Key("jwt_private_key")]"#),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
}

#[test]
fn a_malformed_manifest_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("spin-auth-bad-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application\nname = ",
    )
    .unwrap();
    let output = runner_up(&[], &["--from", manifest.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::write(&manifest, "spin_manifest_version = 1\nname = \"x\"\n").unwrap();
    let output = runner_up(&[], &["--from", manifest.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("version"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unreachable_database_is_503_and_the_service_stays_up() {
    // Port 1 on loopback: nothing listens there.
    let service = Service::builder()
        .var(
            "database_url",
            "postgres://postgres@127.0.0.1:1/auth?sslmode=disable",
        )
        .var("database_host", "127.0.0.1:1")
        .start();
    assert_database_fault_is_503(&service, "database unavailable");
}

#[test]
fn a_database_dropped_mid_run_gives_503_not_a_crash() {
    // PostgreSQL's case; an SQLite database without tables recreates them
    // (tests/sqlite.rs has its faults: corrupt, read-only, locked).
    let db = TestDb::create_postgres();
    migrate(&db);
    let service = Service::builder().on(db).start();
    let client = service.browser();
    register_and_login(&service, &client);
    service.db.drop_now();
    let response = client.get(service.url("/api/users/me")).send().unwrap();
    assert_eq!(
        detail(response),
        (503, json!("Service temporarily unavailable"))
    );
    let response = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": "a@b.co", "password": "x"}),
    );
    assert_eq!(response.status(), 503);
    assert_eq!(
        client
            .get(service.url("/api/healthchecker"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn a_host_outside_allowed_outbound_hosts_is_refused() {
    // database_url points at the real server, but the manifest only allows
    // database_host, which says otherwise: the runner must not connect.
    let db = TestDb::create_postgres();
    let service = Service::builder()
        .var("database_url", &db.url())
        .var("database_host", "127.0.0.1:5433")
        .start();
    let response = post_json(
        &service.plain(),
        &service.url("/api/auth/register"),
        &register_body("a@b.co"),
    );
    assert_eq!(response.status(), 503);
    assert!(
        service.logs().contains("not permitted"),
        "{}",
        service.logs()
    );
}

#[test]
fn a_malformed_key_is_503_with_a_log_line_naming_the_variable() {
    let service = Service::builder()
        .var("jwt_public_key", "not a key")
        .start();
    let response = service
        .plain()
        .get(service.url("/.well-known/jwks.json"))
        .send()
        .unwrap();
    assert_eq!(
        detail(response),
        (503, json!("Service temporarily unavailable"))
    );
    assert!(
        service.logs().contains("jwt_public_key"),
        "{}",
        service.logs()
    );
    assert!(
        !service.logs().contains("not a key"),
        "the value reached the log"
    );
}

#[test]
fn options_is_204_anywhere_with_cors_only_for_allowed_origins() {
    let service = Service::start();
    let client = service.plain();
    let allowed = client
        .request(reqwest::Method::OPTIONS, service.url("/api/auth/login"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{headers}"
    );
    assert!(allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let foreign = client
        .request(reqwest::Method::OPTIONS, service.url("/anything/at/all"))
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(foreign.status(), 204);
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(foreign.headers()["vary"], "Origin");
}

#[test]
fn broken_settings_are_503_on_every_route_that_needs_them() {
    let service = Service::start();
    let client = service.browser();
    let (_, body, cookies) = register_and_login(&service, &client);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = cookie_value(&cookies, "refresh_token");

    let broken_key = service.replica().var("jwt_public_key", "garbage").start();
    for path in ["/api/auth/logout", "/api/auth/logout-all"] {
        let response = broken_key
            .plain()
            .post(broken_key.url(path))
            .bearer_auth(&access)
            .send()
            .unwrap();
        assert_eq!(
            detail(response),
            (503, json!("Service temporarily unavailable")),
            "{path}"
        );
    }
    assert!(broken_key.logs().contains("jwt_public_key"));

    let broken_cookie = service.replica().var("cookie_secure", "maybe").start();
    let response = broken_cookie
        .plain()
        .post(broken_cookie.url("/api/auth/logout"))
        .bearer_auth(&refresh)
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(broken_cookie.logs().contains("cookie_secure"));

    // A public key that does not match the private key: signing routes refuse
    // rather than hand out tokens nothing can verify.
    let mismatched = service
        .replica()
        .var("jwt_public_key", &other_rsa_keys().public_pem)
        .start();
    let email = register(&mismatched, &mismatched.plain());
    let response = post_json(
        &mismatched.plain(),
        &mismatched.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    assert_eq!(response.status(), 503);
    assert!(
        mismatched.logs().contains("jwt_public_key"),
        "{}",
        mismatched.logs()
    );
}
