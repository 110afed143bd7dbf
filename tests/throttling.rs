//! Login throttling per account (docs/API.md, Routes: login).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::blocking::Response;
use serde_json::json;

const TOO_MANY: &str = "Too many failed login attempts, try again later";

fn attempt(service: &Service, email: &str, password: &str) -> Response {
    post_json(
        &service.plain(),
        &service.url("/api/auth/login"),
        &json!({"email": email, "password": password}),
    )
}

fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn fail_five_times(service: &Service, email: &str) {
    for n in 1..=5 {
        assert_eq!(
            attempt(service, email, "wrong-password").status(),
            400,
            "attempt {n}"
        );
    }
}

#[test]
fn the_sixth_attempt_is_locked_even_with_the_right_password() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    fail_five_times(&service, &email);
    let locked = attempt(&service, &email, PASSWORD);
    // Whole seconds left, rounded up: a lock set moments ago says 900.
    let seconds = retry_after(&locked);
    assert!((899..=900).contains(&seconds), "{seconds}");
    assert!(set_cookies(&locked).is_empty());
    assert_eq!(detail(locked), (429, json!(TOO_MANY)));
    // 429s are not counted and do not extend the lock.
    let again = attempt(&service, &email, "wrong-password");
    assert!(retry_after(&again) <= seconds);
    assert_eq!(again.status(), 429);
}

#[test]
fn unknown_emails_lock_the_same_way_and_others_are_unaffected() {
    let service = Service::start();
    let unknown = unique_email("ghost");
    fail_five_times(&service, &unknown);
    let locked = attempt(&service, &unknown, PASSWORD);
    assert!(retry_after(&locked) > 0);
    assert_eq!(locked.status(), 429);

    let email = register(&service, &service.plain());
    assert_eq!(
        attempt(&service, &email, PASSWORD).status(),
        200,
        "another email is unaffected"
    );
    assert_eq!(
        attempt(&service, &unknown.to_uppercase(), "x").status(),
        429,
        "case does not dodge the lock"
    );
}

#[test]
fn a_success_clears_the_count_and_422s_do_not_count() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    for _ in 0..4 {
        assert_eq!(attempt(&service, &email, "wrong-password").status(), 400);
    }
    for _ in 0..3 {
        let malformed = post_json(
            &service.plain(),
            &service.url("/api/auth/login"),
            &json!({"email": email, "password": ""}),
        );
        assert_eq!(malformed.status(), 422);
    }
    assert_eq!(attempt(&service, &email, PASSWORD).status(), 200);
    fail_five_times(&service, &email);
    assert_eq!(attempt(&service, &email, PASSWORD).status(), 429);
}

#[test]
fn the_lock_lifts_after_the_window() {
    let service = Service::builder().var("login_lockout_seconds", "2").start();
    let email = register(&service, &service.plain());
    fail_five_times(&service, &email);
    let locked = attempt(&service, &email, PASSWORD);
    assert_eq!(locked.status(), 429);
    assert!((1..=2).contains(&retry_after(&locked)));
    std::thread::sleep(std::time::Duration::from_millis(2300));
    assert_eq!(attempt(&service, &email, PASSWORD).status(), 200);
}

#[test]
fn the_limit_follows_login_max_failures_across_replicas() {
    let service = Service::builder().var("login_max_failures", "2").start();
    let replica = service.replica().var("login_max_failures", "2").start();
    let email = register(&service, &service.plain());
    assert_eq!(attempt(&service, &email, "wrong-password").status(), 400);
    assert_eq!(attempt(&replica, &email, "wrong-password").status(), 400);
    assert_eq!(attempt(&service, &email, PASSWORD).status(), 429);
    assert_eq!(attempt(&replica, &email, PASSWORD).status(), 429);
}

#[test]
fn parallel_guesses_cannot_slip_past_the_limit() {
    let service = Service::start();
    let email = register(&service, &service.plain());
    let statuses = statuses_in_parallel(10, || attempt(&service, &email, "wrong-password"));
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        attempt(&service, &email, PASSWORD).status(),
        429,
        "the right password is locked out too"
    );
}
