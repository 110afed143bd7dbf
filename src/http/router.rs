//! Finds the handler for a request and turns its result into a response,
//! with the CORS headers every response carries.

use super::{cors, Request, Response};
use crate::config::Config;
use crate::email::Transport;
use crate::error::ApiError;
use crate::routes::{accounts, admin, auth, devices, health, jwks, mfa, openapi, users, Context};
use crate::store::Store;

type Handler = fn(&Context) -> Result<Response, ApiError>;

/// A path and a handler per method it answers; `Allow` is derived from it.
type Route = (&'static str, &'static [(&'static str, Handler)]);

const ROUTES: &[Route] = &[
    ("/api/healthchecker", &[("GET", |_| health::check())]),
    ("/api/auth/register", &[("POST", auth::register)]),
    ("/api/auth/login", &[("POST", auth::login)]),
    ("/api/auth/login/mfa", &[("POST", auth::login_mfa)]),
    (
        "/api/auth/refresh",
        &[("GET", auth::refresh), ("POST", auth::refresh)],
    ),
    (
        "/api/auth/logout",
        &[("GET", auth::logout), ("POST", auth::logout)],
    ),
    ("/api/auth/logout-all", &[("POST", auth::logout_all)]),
    (
        "/api/auth/verify-email",
        &[("POST", accounts::verify_email)],
    ),
    (
        "/api/auth/resend-verification",
        &[("POST", accounts::resend_verification)],
    ),
    (
        "/api/auth/forgot-password",
        &[("POST", accounts::forgot_password)],
    ),
    (
        "/api/auth/reset-password",
        &[("POST", accounts::reset_password)],
    ),
    (
        "/api/users/me",
        &[
            ("GET", users::me),
            ("PATCH", users::update_me),
            ("DELETE", users::delete_me),
        ],
    ),
    (
        "/api/users/me/password",
        &[("POST", users::change_password)],
    ),
    ("/api/users/me/sessions", &[("GET", devices::sessions)]),
    (
        "/api/users/me/sessions/{id}",
        &[("DELETE", devices::revoke_session)],
    ),
    ("/api/users/me/events", &[("GET", devices::events)]),
    (
        "/api/users/me/mfa/totp",
        &[("POST", mfa::enroll), ("DELETE", mfa::disable)],
    ),
    ("/api/users/me/mfa/totp/confirm", &[("POST", mfa::confirm)]),
    ("/api/admin/users", &[("GET", admin::list_users)]),
    (
        "/api/admin/users/{id}",
        &[
            ("GET", admin::get_user),
            ("PATCH", admin::update_user),
            ("DELETE", admin::delete_user),
        ],
    ),
    (
        "/api/admin/users/{id}/logout-all",
        &[("POST", admin::log_out_user)],
    ),
    ("/.well-known/jwks.json", &[("GET", jwks::keys)]),
    (
        "/.well-known/openid-configuration",
        &[("GET", jwks::openid_configuration)],
    ),
    ("/api/openapi.json", &[("GET", |_| openapi::document())]),
];

/// Success answers on these paths carry a token, a user, a session or an
/// event: `Cache-Control: no-store` (RFC 6749 § 5.1). A path is listed
/// exactly, or as a prefix ending in `/` (every route under it, present or
/// to come), or both.
const NO_STORE: &[&str] = &[
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/login/mfa",
    "/api/auth/refresh",
    "/api/users/me",
    "/api/users/me/",
    "/api/admin/",
];

/// The whole request -> response path of the component.
pub fn route(
    request: &Request,
    config: &Config,
    store: &dyn Store,
    transport: &dyn Transport,
) -> Response {
    // Only a request with an `Origin` has CORS answers that depend on
    // `client_origin`, so only it reads the setting here; a weak or
    // malformed one answers `503` (a preflight included) before any handler
    // runs, so nothing is spent or changed.
    let origins = match request.header("origin") {
        Some(_) => config.client_origins(),
        None => Ok(Vec::new()),
    };
    let (origins, mut response) = match origins {
        Err(error) => (Vec::new(), Response::from(ApiError::from(error))),
        Ok(origins) if request.method == "OPTIONS" => {
            let response = cors::preflight(request, &origins);
            (origins, response)
        }
        Ok(origins) => (origins, respond(request, config, store, transport)),
    };
    cors::apply(request, &origins, &mut response);
    response
}

/// The handler's answer, or its error's, with the headers that depend on
/// the route rather than on the handler.
fn respond(
    request: &Request,
    config: &Config,
    store: &dyn Store,
    transport: &dyn Transport,
) -> Response {
    match dispatch(request, config, store, transport) {
        Ok(mut response) => {
            if (200..300).contains(&response.status) && is_no_store(&request.path) {
                response.set_header("cache-control", "no-store");
            }
            response
        }
        Err(error) => Response::from(error),
    }
}

fn is_no_store(path: &str) -> bool {
    NO_STORE
        .iter()
        .any(|listed| path == *listed || (listed.ends_with('/') && path.starts_with(listed)))
}

fn dispatch(
    request: &Request,
    config: &Config,
    store: &dyn Store,
    transport: &dyn Transport,
) -> Result<Response, ApiError> {
    let (path_param, handlers) = ROUTES
        .iter()
        .find_map(|(pattern, handlers)| fit(pattern, &request.path).map(|p| (p, handlers)))
        .ok_or(ApiError::NotFound)?;
    let (_, handler) = handlers
        .iter()
        .find(|(method, _)| *method == request.method)
        .ok_or_else(|| ApiError::MethodNotAllowed {
            allow: allow(handlers),
        })?;
    handler(&Context {
        request,
        config,
        store,
        path_param,
        transport,
    })
}

/// Whether `path` fits `pattern`, whose `{...}` segment (at most one) takes
/// any one non-empty segment: `Some(that segment)` when it fits.
fn fit<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut taken = None;
    let mut segments = path.split('/');
    for expected in pattern.split('/') {
        let segment = segments.next()?;
        if expected.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            taken = Some(segment);
        } else if expected != segment {
            return None;
        }
    }
    segments.next().is_none().then_some(taken)
}

/// The `Allow` header of a path: its methods, in table order.
fn allow(handlers: &[(&'static str, Handler)]) -> String {
    let methods: Vec<&str> = handlers.iter().map(|(method, _)| *method).collect();
    methods.join(", ")
}

/// The paths and methods the router serves (the OpenAPI test compares them
/// with the document).
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES
        .iter()
        .flat_map(|(path, handlers)| handlers.iter().map(move |(m, _)| (*path, *m)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MapVariables;
    use crate::store::DownStore;

    fn send(request: Request) -> Response {
        let vars = MapVariables::with(&[]);
        route(
            &request,
            &Config::new(&vars),
            &DownStore::down("connection refused"),
            &crate::email::NoTransport,
        )
    }

    fn detail(response: &Response) -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&response.body).unwrap()["detail"].clone()
    }

    #[test]
    fn health_answers_hello_world_with_vary() {
        let response = send(Request::new("GET", "/api/healthchecker"));
        assert_eq!(response.status, 200);
        assert_eq!(response.body, br#"{"message":"Hello World"}"#);
        assert_eq!(response.header("vary"), Some("Origin"));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        let missing = send(Request::new("GET", "/nope"));
        assert_eq!(
            (missing.status, detail(&missing)),
            (404, "Not Found".into())
        );
        let wrong = send(Request::new("DELETE", "/api/auth/refresh"));
        assert_eq!(
            (wrong.status, detail(&wrong)),
            (405, "Method Not Allowed".into())
        );
        assert_eq!(wrong.header("allow"), Some("GET, POST"));
    }

    #[test]
    fn allow_lists_exactly_the_methods_of_the_path() {
        for (method, path, allow) in [
            ("PUT", "/api/auth/logout", "GET, POST"),
            ("POST", "/api/users/me", "GET, PATCH, DELETE"),
            ("GET", "/api/users/me/password", "POST"),
            ("GET", "/api/auth/login", "POST"),
            ("GET", "/api/auth/logout-all", "POST"),
            ("DELETE", "/.well-known/jwks.json", "GET"),
        ] {
            let response = send(Request::new(method, path));
            assert_eq!(response.status, 405, "{method} {path}");
            assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        }
    }

    #[test]
    fn options_is_204_anywhere() {
        assert_eq!(send(Request::new("OPTIONS", "/anything")).status, 204);
    }

    #[test]
    fn a_database_failure_is_a_503_without_internals() {
        let request = Request::new("POST", "/api/auth/login")
            .with_header("content-type", "application/json")
            .with_body(br#"{"email": "a@b.co", "password": "x"}"#);
        let response = send(request);
        assert_eq!(response.status, 503);
        assert_eq!(detail(&response), "Service temporarily unavailable");
    }

    #[test]
    fn no_store_covers_the_listed_routes_and_every_route_under_me_and_admin() {
        for path in [
            "/api/auth/register",
            "/api/auth/login",
            "/api/auth/login/mfa",
            "/api/auth/refresh",
            "/api/users/me",
            "/api/users/me/sessions",
            "/api/users/me/mfa/totp/confirm",
            "/api/admin/users",
            "/api/admin/users/0b5a/logout-all",
        ] {
            assert!(is_no_store(path), "{path}");
        }
        for path in [
            "/.well-known/jwks.json",
            "/api/healthchecker",
            "/api/openapi.json",
            "/api/auth/logout",
            "/api/auth/login/other",
            "/api/users/meow",
            "/api/admin",
        ] {
            assert!(!is_no_store(path), "{path}");
        }
    }

    #[test]
    fn only_success_answers_get_no_store() {
        let refused = send(Request::new("POST", "/api/auth/refresh"));
        assert_eq!(refused.status, 401);
        assert_eq!(refused.header("cache-control"), None);
    }

    fn send_with(request: Request, pairs: &[(&'static str, &str)]) -> Response {
        let vars = MapVariables::with(pairs);
        route(
            &request,
            &Config::new(&vars),
            &DownStore::down("connection refused"),
            &crate::email::NoTransport,
        )
    }

    #[test]
    fn a_weak_client_origin_is_a_503_for_requests_with_an_origin_only() {
        for list in ["null", "http://localhost:3000,*"] {
            let vars = [("client_origin", list)];
            for method in ["GET", "OPTIONS"] {
                let request = Request::new(method, "/api/healthchecker")
                    .with_header("origin", "http://localhost:3000");
                let response = send_with(request, &vars);
                assert_eq!(response.status, 503, "{method} {list}");
                assert_eq!(detail(&response), "Service temporarily unavailable");
                assert_eq!(response.header("access-control-allow-origin"), None);
                assert_eq!(response.header("vary"), Some("Origin"));
            }
            let plain = send_with(Request::new("GET", "/api/healthchecker"), &vars);
            assert_eq!(plain.status, 200, "{list}");
            let preflight = send_with(Request::new("OPTIONS", "/api/auth/login"), &vars);
            assert_eq!(preflight.status, 204, "{list}");
        }
    }

    #[test]
    fn a_weak_client_origin_is_a_503_for_cookie_requests() {
        // No Origin: only the CSRF check reads the setting.
        let request =
            Request::new("POST", "/api/auth/refresh").with_header("cookie", "refresh_token=abc");
        let response = send_with(request.clone(), &[("client_origin", "*")]);
        assert_eq!(response.status, 503);
        // With a sound list the CSRF check runs (and refuses a foreign one).
        let foreign = request.with_header("origin", "https://evil.example");
        assert_eq!(send(foreign).status, 403);
    }

    #[test]
    fn routes_lists_each_method() {
        let all: Vec<_> = routes().collect();
        assert!(all.contains(&("/api/auth/refresh", "GET")));
        assert!(all.contains(&("/api/auth/refresh", "POST")));
        assert!(all.contains(&("/api/users/me/sessions/{id}", "DELETE")));
        assert!(all.contains(&("/api/users/me", "PATCH")));
        assert!(all.contains(&("/api/users/me/mfa/totp", "DELETE")));
        assert!(all.contains(&("/api/admin/users/{id}/logout-all", "POST")));
        assert_eq!(all.len(), 31);
    }

    #[test]
    fn a_pattern_takes_exactly_one_segment() {
        assert_eq!(fit("/a/{id}", "/a/x1"), Some(Some("x1")));
        assert_eq!(fit("/a/b", "/a/b"), Some(None));
        for path in ["/a/", "/a", "/a/x/y", "/b/x"] {
            assert_eq!(fit("/a/{id}", path), None, "{path}");
        }
    }

    #[test]
    fn a_session_id_that_is_no_uuid_is_not_found_after_the_login_check() {
        // Without a token: the 401 comes first.
        let response = send(Request::new("DELETE", "/api/users/me/sessions/not-a-uuid"));
        assert_eq!(response.status, 401);
    }
}
