//! Which credential a request presents. The one rule (fastapi-jwt-auth's):
//! when an `Authorization: Bearer` header is sent it is the credential and
//! cookies are ignored, even when its token is empty.

use super::cookies::{ACCESS_TOKEN, REFRESH_TOKEN};
use super::Request;
use crate::auth::refresh::looks_like_jwt;

/// Where a credential came from. Only cookie credentials are subject to
/// the CSRF rules: a page on another site cannot set `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    Bearer,
    Cookie,
}

/// One token and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub token: String,
    pub source: Source,
}

/// What logout may be given: an access token, a refresh token, or (from
/// cookies) both.
#[derive(Debug, Clone, PartialEq)]
pub struct LogoutCredentials {
    pub access: Option<String>,
    pub refresh: Option<String>,
    pub source: Source,
}

enum Presented<'r> {
    Bearer(&'r str),
    /// No Bearer header: the cookies speak.
    Cookies,
    /// A Bearer header without a token: nothing, whatever the cookies hold.
    Nothing,
}

/// Bearer before cookie, for every route that takes a credential.
fn presented(request: &Request) -> Presented<'_> {
    if !request.has_bearer_header() {
        return Presented::Cookies;
    }
    match request.bearer_token() {
        Some(token) => Presented::Bearer(token),
        None => Presented::Nothing,
    }
}

/// The access token: Bearer, else the `access_token` cookie.
pub fn access_token(request: &Request) -> Option<Credential> {
    one_token(request, ACCESS_TOKEN)
}

/// The refresh token: Bearer, else the `refresh_token` cookie.
pub fn refresh_token(request: &Request) -> Option<Credential> {
    one_token(request, REFRESH_TOKEN)
}

fn one_token(request: &Request, cookie: &str) -> Option<Credential> {
    match presented(request) {
        Presented::Bearer(token) => Some(Credential {
            token: token.to_owned(),
            source: Source::Bearer,
        }),
        Presented::Cookies => non_empty_cookie(request, cookie).map(|token| Credential {
            token,
            source: Source::Cookie,
        }),
        Presented::Nothing => None,
    }
}

/// Logout takes an access token or a refresh token. A Bearer value that is
/// not shaped like a JWT is a refresh token; cookies may carry both.
pub fn logout_credentials(request: &Request) -> Option<LogoutCredentials> {
    match presented(request) {
        Presented::Bearer(token) => {
            let (access, refresh) = if looks_like_jwt(token) {
                (Some(token.to_owned()), None)
            } else {
                (None, Some(token.to_owned()))
            };
            Some(LogoutCredentials {
                access,
                refresh,
                source: Source::Bearer,
            })
        }
        Presented::Cookies => {
            let access = non_empty_cookie(request, ACCESS_TOKEN);
            let refresh = non_empty_cookie(request, REFRESH_TOKEN);
            (access.is_some() || refresh.is_some()).then_some(LogoutCredentials {
                access,
                refresh,
                source: Source::Cookie,
            })
        }
        Presented::Nothing => None,
    }
}

/// An empty cookie (what logout leaves behind) counts as absent.
fn non_empty_cookie(request: &Request, name: &str) -> Option<String> {
    request.cookie(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJh.eyJz.c2ln";

    fn with_cookies(cookies: &str) -> Request {
        Request::new("POST", "/api/auth/logout").with_header("cookie", cookies)
    }

    fn cookie_credential(token: &str) -> Option<Credential> {
        Some(Credential {
            token: token.into(),
            source: Source::Cookie,
        })
    }

    #[test]
    fn a_bearer_header_wins_over_the_cookies() {
        let request = with_cookies("access_token=from-cookie; refresh_token=from-cookie")
            .with_header("authorization", "Bearer from-header");
        let bearer = Some(Credential {
            token: "from-header".into(),
            source: Source::Bearer,
        });
        assert_eq!(access_token(&request), bearer);
        assert_eq!(refresh_token(&request), bearer);
    }

    #[test]
    fn a_bearer_header_without_a_token_presents_nothing_even_with_cookies() {
        let request =
            with_cookies("access_token=a; refresh_token=r").with_header("authorization", "Bearer ");
        assert_eq!(access_token(&request), None);
        assert_eq!(refresh_token(&request), None);
        assert_eq!(logout_credentials(&request), None);
    }

    #[test]
    fn without_a_bearer_header_each_route_reads_its_own_cookie() {
        let request = with_cookies("access_token=a; refresh_token=r");
        assert_eq!(access_token(&request), cookie_credential("a"));
        assert_eq!(refresh_token(&request), cookie_credential("r"));
        let basic = request.with_header("authorization", "Basic dXNlcjpwdw==");
        assert_eq!(access_token(&basic), cookie_credential("a"));
    }

    #[test]
    fn an_empty_cookie_counts_as_absent() {
        let request = with_cookies("access_token=; refresh_token=");
        assert_eq!(access_token(&request), None);
        assert_eq!(refresh_token(&request), None);
        assert_eq!(logout_credentials(&request), None);
    }

    #[test]
    fn logout_tells_a_bearer_access_token_from_a_refresh_token_by_its_shape() {
        let access =
            Request::new("POST", "/").with_header("authorization", &format!("Bearer {JWT}"));
        assert_eq!(
            logout_credentials(&access),
            Some(LogoutCredentials {
                access: Some(JWT.into()),
                refresh: None,
                source: Source::Bearer,
            })
        );
        let refresh = Request::new("POST", "/").with_header("authorization", "Bearer opaque");
        assert_eq!(
            logout_credentials(&refresh),
            Some(LogoutCredentials {
                access: None,
                refresh: Some("opaque".into()),
                source: Source::Bearer,
            })
        );
    }

    #[test]
    fn logout_takes_both_cookies_and_either_alone() {
        assert_eq!(
            logout_credentials(&with_cookies("access_token=a; refresh_token=r")),
            Some(LogoutCredentials {
                access: Some("a".into()),
                refresh: Some("r".into()),
                source: Source::Cookie,
            })
        );
        assert_eq!(
            logout_credentials(&with_cookies("refresh_token=r")),
            Some(LogoutCredentials {
                access: None,
                refresh: Some("r".into()),
                source: Source::Cookie,
            })
        );
        assert_eq!(logout_credentials(&Request::new("POST", "/")), None);
    }
}
