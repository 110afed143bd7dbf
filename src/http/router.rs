//! Finds the handler for a request and turns its result into a response,
//! with the CORS headers every response carries.

use super::{cors, Request, Response};
use crate::config::Config;
use crate::error::ApiError;
use crate::routes::{auth, devices, health, jwks, openapi, users, Context};
use crate::store::Store;

type Handler = fn(&Context) -> Result<Response, ApiError>;

/// A path and a handler per method it answers; `Allow` is derived from it.
type Route = (&'static str, &'static [(&'static str, Handler)]);

const ROUTES: &[Route] = &[
    ("/api/healthchecker", &[("GET", |_| health::check())]),
    ("/api/auth/register", &[("POST", auth::register)]),
    ("/api/auth/login", &[("POST", auth::login)]),
    (
        "/api/auth/refresh",
        &[("GET", auth::refresh), ("POST", auth::refresh)],
    ),
    (
        "/api/auth/logout",
        &[("GET", auth::logout), ("POST", auth::logout)],
    ),
    ("/api/auth/logout-all", &[("POST", auth::logout_all)]),
    ("/api/users/me", &[("GET", users::me)]),
    ("/api/users/me/sessions", &[("GET", devices::sessions)]),
    (
        "/api/users/me/sessions/{id}",
        &[("DELETE", devices::revoke_session)],
    ),
    ("/api/users/me/events", &[("GET", devices::events)]),
    ("/.well-known/jwks.json", &[("GET", jwks::keys)]),
    ("/api/openapi.json", &[("GET", |_| openapi::document())]),
];

/// The whole request -> response path of the component.
pub fn route(request: &Request, config: &Config, store: &dyn Store) -> Response {
    let origins = config.client_origins();
    let mut response = if request.method == "OPTIONS" {
        cors::preflight(request, &origins)
    } else {
        dispatch(request, config, store).unwrap_or_else(Response::from)
    };
    cors::apply(request, &origins, &mut response);
    response
}

fn dispatch(request: &Request, config: &Config, store: &dyn Store) -> Result<Response, ApiError> {
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
            ("POST", "/api/users/me", "GET"),
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
    fn routes_lists_each_method() {
        let all: Vec<_> = routes().collect();
        assert!(all.contains(&("/api/auth/refresh", "GET")));
        assert!(all.contains(&("/api/auth/refresh", "POST")));
        assert!(all.contains(&("/api/users/me/sessions/{id}", "DELETE")));
        assert_eq!(all.len(), 14);
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
