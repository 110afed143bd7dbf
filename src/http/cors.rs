//! CORS for the configured browser origins, and the CSRF rules for
//! cookie-authenticated requests.

use super::{Request, Response};
use crate::error::ApiError;

pub const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str = "Content-Type, Authorization";

/// Adds `Vary: Origin` to every response, and the CORS headers when the
/// request's `Origin` is one of `allowed`.
pub fn apply(request: &Request, allowed: &[String], response: &mut Response) {
    response.set_header("vary", "Origin");
    if let Some(origin) = allowed_origin(request, allowed) {
        response.set_header("access-control-allow-origin", origin);
        response.set_header("access-control-allow-credentials", "true");
    }
}

/// `OPTIONS` on any path: `204`, with the preflight answers for an allowed
/// origin only.
pub fn preflight(request: &Request, allowed: &[String]) -> Response {
    let mut response = Response::empty(204);
    if allowed_origin(request, allowed).is_some() {
        response.set_header("access-control-allow-methods", ALLOWED_METHODS);
        response.set_header("access-control-allow-headers", ALLOWED_HEADERS);
        response.set_header("access-control-max-age", "600");
    }
    response
}

fn allowed_origin<'r>(request: &'r Request, allowed: &[String]) -> Option<&'r str> {
    let origin = request.header("origin")?;
    listed(origin, allowed).then_some(origin)
}

/// Whether `origin` is one of `allowed`. `null` never is: `client_origin`
/// refuses it (see `Config::client_origins`), and this holds even for a
/// list that came from elsewhere.
fn listed(origin: &str, allowed: &[String]) -> bool {
    !origin.eq_ignore_ascii_case("null") && allowed.iter().any(|a| a == origin)
}

const ORIGIN_NOT_ALLOWED: ApiError = ApiError::Forbidden("Origin not allowed");

/// CSRF rules for a request whose credential came from a cookie: an unsafe
/// method with a foreign `Origin` (`null` included) is refused, and so is a
/// state-changing `GET` that the browser marks `Sec-Fetch-Site: cross-site`
/// unless its `Origin` is an allowed front end.
pub fn check_cookie_request(request: &Request, allowed: &[String]) -> Result<(), ApiError> {
    let origin = request.header("origin");
    let origin_allowed = |origin: &str| {
        listed(origin, allowed)
            || request
                .own_origin()
                .is_some_and(|own| own.eq_ignore_ascii_case(origin))
    };
    if request.method == "GET" || request.method == "HEAD" {
        let cross_site = request
            .header("sec-fetch-site")
            .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
        let from_front_end = origin.is_some_and(|o| listed(o, allowed));
        if cross_site && !from_front_end {
            return Err(ORIGIN_NOT_ALLOWED);
        }
        return Ok(());
    }
    match origin {
        Some(origin) if !origin_allowed(origin) => Err(ORIGIN_NOT_ALLOWED),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "http://localhost:3000".into(),
            "https://app.example.com".into(),
        ]
    }

    fn post(origin: Option<&str>) -> Request {
        let request = Request::new("POST", "/api/auth/refresh")
            .with_header("spin-full-url", "http://auth.local:8000/api/auth/refresh");
        match origin {
            Some(o) => request.with_header("origin", o),
            None => request,
        }
    }

    #[test]
    fn cors_headers_only_for_allowed_origins() {
        let mut response = Response::empty(200);
        apply(
            &post(Some("https://app.example.com")),
            &allowed(),
            &mut response,
        );
        assert_eq!(
            response.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            response.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(response.header("vary"), Some("Origin"));

        let mut response = Response::empty(200);
        apply(
            &post(Some("https://evil.example")),
            &allowed(),
            &mut response,
        );
        assert_eq!(response.header("access-control-allow-origin"), None);
        assert_eq!(response.header("vary"), Some("Origin"));
    }

    #[test]
    fn preflight_is_204_with_methods_only_for_allowed_origin() {
        let ok = preflight(&post(Some("http://localhost:3000")), &allowed());
        assert_eq!(ok.status, 204);
        assert!(ok
            .header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization"));
        let foreign = preflight(&post(Some("https://evil.example")), &allowed());
        assert_eq!(foreign.status, 204);
        assert_eq!(foreign.header("access-control-allow-methods"), None);
    }

    #[test]
    fn unsafe_cookie_requests_need_a_known_origin_or_none() {
        assert!(check_cookie_request(&post(None), &allowed()).is_ok());
        assert!(check_cookie_request(&post(Some("http://localhost:3000")), &allowed()).is_ok());
        assert!(check_cookie_request(&post(Some("http://auth.local:8000")), &allowed()).is_ok());
        assert_eq!(
            check_cookie_request(&post(Some("null")), &allowed()),
            Err(ORIGIN_NOT_ALLOWED)
        );
        assert_eq!(
            check_cookie_request(&post(Some("https://evil.example")), &allowed()),
            Err(ORIGIN_NOT_ALLOWED)
        );
    }

    #[test]
    fn a_null_origin_is_never_trusted_even_when_listed() {
        let listed_null = vec!["null".to_owned(), "NULL".to_owned()];
        for origin in ["null", "NULL"] {
            assert_eq!(
                check_cookie_request(&post(Some(origin)), &listed_null),
                Err(ORIGIN_NOT_ALLOWED)
            );
            let mut response = Response::empty(200);
            apply(&post(Some(origin)), &listed_null, &mut response);
            assert_eq!(response.header("access-control-allow-origin"), None);
            let preflight = preflight(&post(Some(origin)), &listed_null);
            assert_eq!(preflight.header("access-control-allow-methods"), None);
        }
    }

    #[test]
    fn cross_site_gets_are_refused_unless_from_a_front_end() {
        let get =
            Request::new("GET", "/api/auth/logout").with_header("sec-fetch-site", "cross-site");
        assert_eq!(
            check_cookie_request(&get, &allowed()),
            Err(ORIGIN_NOT_ALLOWED)
        );
        let fetch = get.clone().with_header("origin", "http://localhost:3000");
        assert!(check_cookie_request(&fetch, &allowed()).is_ok());
        let same_site =
            Request::new("GET", "/api/auth/logout").with_header("sec-fetch-site", "same-origin");
        assert!(check_cookie_request(&same_site, &allowed()).is_ok());
    }
}
