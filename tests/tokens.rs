//! Access tokens and JWKS (docs/API.md, Tokens and JWKS), checked with an
//! independent JOSE implementation (the `jsonwebtoken` crate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

fn jwks(service: &Service) -> Value {
    let response = service
        .plain()
        .get(service.url("/.well-known/jwks.json"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json().unwrap()
}

fn login_token(service: &Service) -> String {
    let client = service.browser();
    let (_, body, _) = register_and_login(service, &client);
    body["access_token"].as_str().unwrap().to_owned()
}

fn me_with(service: &Service, token: &str) -> (u16, Value) {
    let response = service
        .plain()
        .get(service.url("/api/users/me"))
        .bearer_auth(token)
        .send()
        .unwrap();
    if response.status() == 401 {
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    detail(response)
}

#[test]
fn the_token_header_and_claims_follow_the_contract() {
    let service = Service::start();
    let token = login_token(&service);
    let header = jwt_part(&token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let keys = jwks(&service);
    assert_eq!(header["kid"], keys["keys"][0]["kid"]);
    let claims = jwt_part(&token, 1);
    for claim in ["sub", "sid", "jti", "iat", "nbf", "exp"] {
        assert!(!claims[claim].is_null(), "{claim} missing: {claims}");
    }
    assert_eq!(claims["type"], "access");
    assert!(claims.get("iss").is_none() && claims.get("aud").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((claims["iat"].as_i64().unwrap() - now).abs() < 30);
    let sessions = service.db.query_i64(&format!(
        "SELECT count(*) FROM sessions WHERE id = '{}' AND user_id = '{}'",
        claims["sid"].as_str().unwrap(),
        claims["sub"].as_str().unwrap()
    ));
    assert_eq!(sessions, 1);
}

#[test]
fn jwks_publishes_an_rfc7517_key_that_verifies_tokens_independently() {
    let service = Service::start();
    let token = login_token(&service);
    let keys = jwks(&service);
    let jwk = &keys["keys"][0];
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["use"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("RSA"), Some("sig"), Some("RS256"))
    );
    assert_eq!(jwk["e"], "AQAB");

    // RFC 7638 thumbprint, computed here from n and e.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    );
    use sha2::Digest;
    let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
    assert_eq!(jwk["kid"], thumbprint);

    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(decoded.claims["type"], "access");
}

#[test]
fn issuer_and_audience_are_set_and_required_when_configured() {
    let service = Service::builder()
        .var("jwt_issuer", "https://auth.example")
        .var("jwt_audience", "my-api")
        .start();
    let token = login_token(&service);
    let claims = jwt_part(&token, 1);
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["aud"], "my-api");
    assert_eq!(me_with(&service, &token).0, 200);

    let other_audience = service
        .replica()
        .var("jwt_issuer", "https://auth.example")
        .var("jwt_audience", "other-api")
        .start();
    assert_eq!(
        me_with(&other_audience, &token),
        (401, json!("Token is invalid or has expired"))
    );
    let other_issuer = service
        .replica()
        .var("jwt_issuer", "https://evil.example")
        .var("jwt_audience", "my-api")
        .start();
    assert_eq!(me_with(&other_issuer, &token).0, 401);
}

/// Signs claims with the service's own private key (as a forger who stole
/// nothing could not) to test claim rules in isolation.
fn sign_with_service_key(claims: JWTClaims<Value>, kid: Option<&str>) -> String {
    let mut pair = RS256KeyPair::from_pem(&rsa_keys().private_pem).unwrap();
    if let Some(kid) = kid {
        pair = pair.with_key_id(kid);
    }
    pair.sign(claims).unwrap()
}

fn claims_like(token: &str) -> (Value, String) {
    let header = jwt_part(token, 0);
    (
        jwt_part(token, 1),
        header["kid"].as_str().unwrap().to_owned(),
    )
}

fn custom_claims(original: &Value, lifetime: Duration) -> JWTClaims<Value> {
    let custom = json!({"sid": original["sid"], "type": original["type"]});
    Claims::with_custom_claims(custom, lifetime).with_subject(original["sub"].as_str().unwrap())
}

#[test]
fn forged_and_broken_tokens_are_rejected() {
    let service = Service::start();
    let token = login_token(&service);
    let (original, kid) = claims_like(&token);
    let invalid = (401, json!("Token is invalid or has expired"));

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&original)
    );
    assert_eq!(me_with(&service, &none), invalid, "alg none");

    let hs = HS256Key::from_bytes(rsa_keys().public_pem.as_bytes()).with_key_id(&kid);
    let hs_token = hs
        .authenticate(custom_claims(&original, Duration::from_mins(5)))
        .unwrap();
    assert_eq!(
        me_with(&service, &hs_token),
        invalid,
        "HS256 with the public key"
    );

    let unknown_kid = sign_with_service_key(
        custom_claims(&original, Duration::from_mins(5)),
        Some("not-our-kid"),
    );
    assert_eq!(me_with(&service, &unknown_kid), invalid, "unknown kid");

    let no_kid = sign_with_service_key(custom_claims(&original, Duration::from_mins(5)), None);
    assert_eq!(me_with(&service, &no_kid), invalid, "missing kid");

    let other_key = RS256KeyPair::from_pem(&other_rsa_keys().private_pem)
        .unwrap()
        .with_key_id(&kid);
    let wrong_signature = other_key
        .sign(custom_claims(&original, Duration::from_mins(5)))
        .unwrap();
    assert_eq!(
        me_with(&service, &wrong_signature),
        invalid,
        "signed by another key"
    );

    let mut expired = custom_claims(&original, Duration::from_mins(5));
    let now = Clock::now_since_epoch();
    expired.issued_at = Some(now - Duration::from_mins(20));
    expired.invalid_before = expired.issued_at;
    expired.expires_at = Some(now - Duration::from_secs(120));
    assert_eq!(
        me_with(&service, &sign_with_service_key(expired, Some(&kid))),
        invalid,
        "expired 2 minutes ago"
    );

    let mut refresh_typed = custom_claims(&original, Duration::from_mins(5));
    refresh_typed.custom["type"] = json!("refresh");
    assert_eq!(
        me_with(&service, &sign_with_service_key(refresh_typed, Some(&kid))),
        invalid,
        "type refresh"
    );

    assert_eq!(
        me_with(&service, &token[..token.len() - 5]),
        invalid,
        "truncated"
    );
    assert_eq!(me_with(&service, "garbage"), invalid, "garbage");

    // The genuine token still works: the rejections were about the forgeries.
    assert_eq!(me_with(&service, &token).0, 200);
}

#[test]
fn a_token_within_the_60_second_tolerance_still_works() {
    let service = Service::start();
    let token = login_token(&service);
    let (original, kid) = claims_like(&token);
    let mut claims = custom_claims(&original, Duration::from_mins(5));
    let now = Clock::now_since_epoch();
    claims.issued_at = Some(now - Duration::from_mins(10));
    claims.invalid_before = claims.issued_at;
    claims.expires_at = Some(now - Duration::from_secs(20));
    assert_eq!(
        me_with(&service, &sign_with_service_key(claims, Some(&kid))).0,
        200
    );
}

#[test]
fn a_refresh_token_is_not_an_access_token_and_vice_versa() {
    let service = Service::start();
    let client = service.browser();
    let (_, body, cookies) = register_and_login(&service, &client);
    let refresh = cookie_value(&cookies, "refresh_token");
    assert_eq!(
        me_with(&service, &refresh),
        (401, json!("Token is invalid or has expired"))
    );
    let access = body["access_token"].as_str().unwrap();
    let response = service
        .plain()
        .post(service.url("/api/auth/refresh"))
        .bearer_auth(access)
        .send()
        .unwrap();
    assert_eq!(
        detail(response),
        (401, json!("Could not refresh access token"))
    );
}

#[test]
fn a_bearer_header_wins_over_cookies() {
    let service = Service::start();
    let client = service.browser();
    register_and_login(&service, &client);
    assert_eq!(
        client
            .get(service.url("/api/users/me"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let response = client
        .get(service.url("/api/users/me"))
        .bearer_auth("not.a.token")
        .send()
        .unwrap();
    assert_eq!(
        detail(response),
        (401, json!("Token is invalid or has expired"))
    );
}

#[test]
fn additional_public_keys_verify_and_are_published_unknown_ones_do_not() {
    let service = Service::start();
    let user_token = login_token(&service);
    let (original, _) = claims_like(&user_token);

    // The next key is published before it signs anything.
    let next = other_rsa_keys();
    let rotated = service
        .replica()
        .var("jwt_additional_public_keys", &next.public_pem)
        .start();
    let keys = jwks(&rotated);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let next_kid = keys["keys"][1]["kid"].as_str().unwrap().to_owned();
    assert_ne!(next_kid, keys["keys"][0]["kid"].as_str().unwrap());

    let next_pair = RS256KeyPair::from_pem(&next.private_pem)
        .unwrap()
        .with_key_id(&next_kid);
    let by_next_key = next_pair
        .sign(custom_claims(&original, Duration::from_mins(5)))
        .unwrap();
    assert_eq!(
        me_with(&rotated, &by_next_key).0,
        200,
        "a token of an additional key verifies"
    );
    assert_eq!(
        me_with(&service, &by_next_key).0,
        401,
        "not without the key configured"
    );
    assert_eq!(
        me_with(&rotated, &user_token).0,
        200,
        "the current key still verifies"
    );
}

/// Logs in on a service configured for `algorithm` and checks the token
/// against the published JWK with an independent implementation.
fn check_algorithm_end_to_end(
    algorithm: &str,
    private_pem: &str,
    public_pem: &str,
    kty: &str,
    jose: jsonwebtoken::Algorithm,
) {
    let service = Service::builder()
        .var("jwt_algorithm", algorithm)
        .var("jwt_private_key", private_pem)
        .var("jwt_public_key", public_pem)
        .start();
    let token = login_token(&service);
    assert_eq!(jwt_part(&token, 0)["alg"], algorithm);
    let keys = jwks(&service);
    let jwk = &keys["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str()),
        (Some(kty), Some(algorithm))
    );
    assert_eq!(jwk["kid"], jwt_part(&token, 0)["kid"]);
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jose);
    validation.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    assert_eq!(me_with(&service, &token).0, 200);
    let client = service.browser();
    register_and_login(&service, &client);
    assert_eq!(refresh_status(&service, &client), 200);
    // An RS256 token is refused by an EdDSA/ES256 service.
    let rs = RS256KeyPair::from_pem(&rsa_keys().private_pem)
        .unwrap()
        .with_key_id(jwk["kid"].as_str().unwrap());
    let (original, _) = claims_like(&token);
    let forged = rs
        .sign(custom_claims(&original, Duration::from_mins(5)))
        .unwrap();
    assert_eq!(me_with(&service, &forged).0, 401);
}

#[test]
fn eddsa_tokens_work_end_to_end() {
    let pair = Ed25519KeyPair::generate();
    check_algorithm_end_to_end(
        "EdDSA",
        &pair.to_pem(),
        &pair.public_key().to_pem(),
        "OKP",
        jsonwebtoken::Algorithm::EdDSA,
    );
}

#[test]
fn es256_tokens_work_end_to_end() {
    let pair = ES256KeyPair::generate();
    let (private, public) = (pair.to_pem().unwrap(), pair.public_key().to_pem().unwrap());
    check_algorithm_end_to_end(
        "ES256",
        &private,
        &public,
        "EC",
        jsonwebtoken::Algorithm::ES256,
    );
}

#[test]
fn keys_may_be_base64_of_the_pem_in_pkcs1_or_pkcs8() {
    use base64::engine::general_purpose::STANDARD;
    // jwt-simple writes PKCS#8; convert to PKCS#1 ("RSA PRIVATE KEY") with openssl when present.
    let keys = rsa_keys();
    let service = Service::builder()
        .var("jwt_private_key", &STANDARD.encode(&keys.private_pem))
        .var("jwt_public_key", &STANDARD.encode(&keys.public_pem))
        .start();
    assert_eq!(me_with(&service, &login_token(&service)).0, 200);
    let converted = std::process::Command::new("openssl")
        .args(["rsa", "-traditional"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(keys.private_pem.as_bytes())?;
            child.wait_with_output()
        })
        .expect("openssl converts the key to PKCS#1");
    let pkcs1 = String::from_utf8(converted.stdout).unwrap();
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    let service = Service::builder().var("jwt_private_key", &pkcs1).start();
    assert_eq!(me_with(&service, &login_token(&service)).0, 200);
}
