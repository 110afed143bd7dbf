//! Settings that would weaken the service are malformed: `503` and a log
//! line naming the variable, on the routes that read the setting, and on no
//! other (docs/API.md, Settings). And answers that carry a token or a user
//! are never stored by a cache (`Cache-Control: no-store`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use reqwest::blocking::Response;
use reqwest::Method;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};

/// The operating system's random source for `rsa`'s key generation.
struct OsRandom;

// A test may panic when the OS has no randomness to give.
impl rsa::rand_core::TryRng for OsRandom {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(getrandom::u32().unwrap())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(getrandom::u64().unwrap())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        getrandom::fill(dst).unwrap();
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for OsRandom {}

/// A 1024-bit RSA key pair (jwt-simple generates 2048 bits and up only).
fn weak_rsa_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = rsa::PrivateKey::new(&mut OsRandom, 1024).unwrap();
        TestKeys {
            private_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public_pem: key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }
    })
}

fn unavailable(response: Response, what: &str) {
    assert_eq!(
        detail(response),
        (503, json!("Service temporarily unavailable")),
        "{what}"
    );
}

/// The log line of a malformed setting names `variable`. The runner's
/// stderr is read on a thread of its own, so the line may arrive a moment
/// after the response: wait for it a little.
fn logged(service: &Service, variable: &str) {
    let line = format!("configuration error: variable `{variable}`");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !service.logs().contains(&line) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = service.logs();
    assert!(logs.contains(&line), "no `{line}` in:\n{logs}");
}

/// A logged-in user of `service`: its email, access and refresh tokens.
fn session(service: &Service) -> (String, String, String) {
    let (email, body, cookies) = register_and_login(service, &service.browser());
    let access = body["access_token"].as_str().unwrap().to_owned();
    (email, access, cookie_value(&cookies, "refresh_token"))
}

fn login_with(service: &Service, email: &str) -> Response {
    post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    )
}

fn refresh_with(service: &Service, refresh: &str) -> Response {
    service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(refresh)
        .send()
        .unwrap()
}

fn get(service: &Service, path: &str, bearer: Option<&str>) -> Response {
    let request = service.plain().get(service.url(path));
    match bearer {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
    .send()
    .unwrap()
}

#[test]
fn an_rsa_private_key_under_2048_bits_is_503_on_the_routes_that_sign() {
    let service = Service::start();
    let (email, access, refresh) = session(&service);
    let weak = service
        .replica()
        .var("jwt_private_key", &weak_rsa_keys().private_pem)
        .start();
    unavailable(login_with(&weak, &email), "login");
    // Read before the password is checked: a wrong one is no `400` here.
    let wrong = post_json(
        &weak.plain(),
        &weak.url("/api/auth/login"),
        &json!({"email": email, "password": "wrong-password"}),
    );
    unavailable(wrong, "login with a wrong password");
    unavailable(refresh_with(&weak, &refresh), "refresh");
    logged(&weak, "jwt_private_key");
    assert!(weak.logs().contains("1024 bits"), "{}", weak.logs());
    // Verifying and publishing read the public keys only; register no key.
    assert_eq!(get(&weak, "/api/users/me", Some(&access)).status(), 200);
    assert_eq!(get(&weak, "/.well-known/jwks.json", None).status(), 200);
    register(&weak, &weak.plain());
    // The refused refresh spent nothing.
    assert_eq!(refresh_with(&service, &refresh).status(), 200);
}

#[test]
fn rsa_public_keys_under_2048_bits_are_503_where_keys_verify_or_are_published() {
    let service = Service::start();
    let (email, access, _) = session(&service);
    let additional = format!(
        "{},{}",
        other_rsa_keys().public_pem,
        weak_rsa_keys().public_pem
    );
    for (variable, value) in [
        ("jwt_public_key", weak_rsa_keys().public_pem.as_str()),
        ("jwt_additional_public_keys", additional.as_str()),
    ] {
        let weak = service.replica().var(variable, value).start();
        unavailable(get(&weak, "/api/users/me", Some(&access)), variable);
        unavailable(get(&weak, "/.well-known/jwks.json", None), variable);
        // The signing routes check that their key is among the verifying ones.
        unavailable(login_with(&weak, &email), variable);
        logged(&weak, variable);
        assert_eq!(get(&weak, "/api/healthchecker", None).status(), 200);
    }
}

#[test]
fn a_null_or_wildcard_client_origin_is_503_where_origins_are_read_and_trusts_nothing() {
    let service = Service::start();
    let (_, access, refresh) = session(&service);
    let cookie = format!("refresh_token={refresh}");
    for list in ["http://localhost:3000, NULL", "*"] {
        let weak = service.replica().var("client_origin", list).start();
        let client = weak.plain();
        for origin in [Some("null"), Some("http://localhost:3000"), None] {
            // A cookie POST: the CSRF check reads the list (and so does the
            // CORS answer when there is an Origin). `Origin: null` in
            // particular is not let through.
            let mut request = client
                .post(weak.url("/api/auth/refresh"))
                .header("cookie", &cookie);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let response = request.send().unwrap();
            assert!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .is_none(),
                "{list} {origin:?}"
            );
            unavailable(response, &format!("cookie refresh {list} {origin:?}"));
        }
        // A preflight reads the list: 503, no CORS headers, so the browser
        // sends nothing after it.
        for origin in ["null", "http://localhost:3000"] {
            let preflight = client
                .request(Method::OPTIONS, weak.url("/api/auth/refresh"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .unwrap();
            assert!(preflight
                .headers()
                .get("access-control-allow-methods")
                .is_none());
            assert_eq!(preflight.headers()["vary"], "Origin");
            unavailable(preflight, &format!("preflight {list} {origin}"));
        }
        logged(&weak, "client_origin");
        // Requests without an Origin and without cookies do not read it.
        let options = client
            .request(Method::OPTIONS, weak.url("/api/auth/refresh"))
            .send()
            .unwrap();
        assert_eq!(options.status(), 204);
        assert_eq!(get(&weak, "/api/users/me", Some(&access)).status(), 200);
        assert_eq!(get(&weak, "/api/healthchecker", None).status(), 200);
    }
    // Nothing was spent: the session still refreshes with its cookie.
    let response = service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn a_reuse_grace_over_60_seconds_is_503_on_refresh_and_spends_nothing() {
    let service = Service::start();
    let (email, access, refresh) = session(&service);
    // 3600 was accepted by the first release.
    for grace in ["61", "3600"] {
        let weak = service
            .replica()
            .var("refresh_reuse_grace_seconds", grace)
            .start();
        unavailable(refresh_with(&weak, &refresh), grace);
        logged(&weak, "refresh_reuse_grace_seconds");
        assert_eq!(get(&weak, "/api/users/me", Some(&access)).status(), 200);
        assert_eq!(login_with(&weak, &email).status(), 200);
    }
    // 60 is still a grace window: a token retired a moment ago gets one.
    let longest = service
        .replica()
        .var("refresh_reuse_grace_seconds", "60")
        .start();
    assert_eq!(refresh_with(&longest, &refresh).status(), 200);
    let late = refresh_with(&longest, &refresh);
    assert_eq!(late.status(), 200);
    assert!(set_cookies(&late)
        .iter()
        .all(|c| !c.starts_with("refresh_token=")));
}

#[test]
fn an_access_token_lifetime_over_a_day_is_503_on_the_routes_that_sign() {
    let service = Service::start();
    let (email, access, refresh) = session(&service);
    let weak = service
        .replica()
        .var("access_token_expires_in", "1441")
        .start();
    unavailable(login_with(&weak, &email), "login");
    unavailable(refresh_with(&weak, &refresh), "refresh");
    logged(&weak, "access_token_expires_in");
    assert_eq!(get(&weak, "/api/users/me", Some(&access)).status(), 200);
    assert_eq!(get(&weak, "/.well-known/jwks.json", None).status(), 200);

    let day = service
        .replica()
        .var("access_token_expires_in", "1440")
        .start();
    let response = login_with(&day, &email);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let claims = jwt_part(body["access_token"].as_str().unwrap(), 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    // The refused refresh spent nothing.
    assert_eq!(refresh_with(&service, &refresh).status(), 200);
}

#[test]
fn answers_with_a_token_or_a_user_are_no_store_and_jwks_keeps_its_cache_time() {
    let service = Service::start();
    let client = service.browser();
    let no_store = |response: &Response, what: &str| {
        assert!(
            response.status().is_success(),
            "{what}: {}",
            response.status()
        );
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
    };
    let email = unique_email("cache");
    let registered = post_json(
        &client,
        &service.url("/api/auth/register"),
        &register_body(&email),
    );
    no_store(&registered, "register");
    let logged_in = post_json(
        &client,
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": PASSWORD}),
    );
    no_store(&logged_in, "login");
    for method in [Method::GET, Method::POST] {
        let refreshed = client
            .request(method.clone(), service.url("/api/auth/refresh"))
            .send()
            .unwrap();
        no_store(&refreshed, &format!("{method} refresh"));
    }
    let me = client.get(service.url("/api/users/me")).send().unwrap();
    no_store(&me, "me");

    let jwks = get(&service, "/.well-known/jwks.json", None);
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
    let health = get(&service, "/api/healthchecker", None);
    assert!(health.headers().get("cache-control").is_none());
}
