//! Reading the `Cookie` header and writing `Set-Cookie` values, among them
//! the contract's three token cookies.

pub const ACCESS_TOKEN: &str = "access_token";
pub const REFRESH_TOKEN: &str = "refresh_token";
/// Readable by scripts, so a front end can tell it is logged in.
pub const LOGGED_IN: &str = "logged_in";
/// The refresh token is sent to the auth routes only.
const REFRESH_PATH: &str = "/api/auth";

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn find(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// A `Set-Cookie` value. Names and values here are ours (tokens are
/// base64url or JWTs), so no escaping is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct SetCookie {
    pub name: &'static str,
    pub value: String,
    pub max_age_secs: i64,
    pub path: &'static str,
    pub http_only: bool,
    pub secure: bool,
}

impl SetCookie {
    /// A cookie that deletes `name` at `path` (`Max-Age=0`).
    pub fn expired(name: &'static str, path: &'static str, http_only: bool, secure: bool) -> Self {
        SetCookie {
            name,
            value: String::new(),
            max_age_secs: 0,
            path,
            http_only,
            secure,
        }
    }

    pub fn render(&self) -> String {
        let mut cookie = format!(
            "{}={}; Max-Age={}; Path={}; SameSite=Lax",
            self.name,
            self.value,
            self.max_age_secs.max(0),
            self.path
        );
        if self.http_only {
            cookie.push_str("; HttpOnly");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }
}

/// The access cookie and its `logged_in` companion, as login and refresh set
/// them. `logged_in` is readable by scripts and has no `Secure`, as the
/// contract lists it (the tutorial's cookie).
pub fn access_cookies(access_token: &str, max_age_secs: i64, secure: bool) -> [SetCookie; 2] {
    let access = SetCookie {
        name: ACCESS_TOKEN,
        value: access_token.to_owned(),
        max_age_secs,
        path: "/",
        http_only: true,
        secure,
    };
    let logged_in = SetCookie {
        name: LOGGED_IN,
        value: "True".into(),
        http_only: false,
        secure: false,
        ..access.clone()
    };
    [access, logged_in]
}

pub fn refresh_cookie(refresh_token: &str, max_age_secs: i64, secure: bool) -> SetCookie {
    SetCookie {
        name: REFRESH_TOKEN,
        value: refresh_token.to_owned(),
        max_age_secs,
        path: REFRESH_PATH,
        http_only: true,
        secure,
    }
}

/// What logout sets: the three cookies, expired at the paths they were set.
pub fn expired_token_cookies(secure: bool) -> [SetCookie; 3] {
    [
        SetCookie::expired(ACCESS_TOKEN, "/", true, secure),
        SetCookie::expired(REFRESH_TOKEN, REFRESH_PATH, true, secure),
        SetCookie::expired(LOGGED_IN, "/", false, false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let header = "logged_in=True; access_token=abc.def.ghi;refresh_token=xyz";
        assert_eq!(find(header, "access_token").as_deref(), Some("abc.def.ghi"));
        assert_eq!(find(header, "refresh_token").as_deref(), Some("xyz"));
        assert_eq!(find(header, "missing"), None);
    }

    #[test]
    fn renders_attributes() {
        let cookie = SetCookie {
            name: "refresh_token",
            value: "t".into(),
            max_age_secs: 3600,
            path: "/api/auth",
            http_only: true,
            secure: true,
        };
        assert_eq!(
            cookie.render(),
            "refresh_token=t; Max-Age=3600; Path=/api/auth; SameSite=Lax; HttpOnly; Secure"
        );
        let cleared = SetCookie::expired("logged_in", "/", false, false).render();
        assert_eq!(cleared, "logged_in=; Max-Age=0; Path=/; SameSite=Lax");
    }

    #[test]
    fn token_cookies_are_set_and_cleared_at_the_same_paths() {
        let [access, logged_in] = access_cookies("a.b.c", 900, true);
        assert_eq!(
            access.render(),
            "access_token=a.b.c; Max-Age=900; Path=/; SameSite=Lax; HttpOnly; Secure"
        );
        assert_eq!(
            logged_in.render(),
            "logged_in=True; Max-Age=900; Path=/; SameSite=Lax"
        );
        assert_eq!(
            refresh_cookie("t", 3600, false).render(),
            "refresh_token=t; Max-Age=3600; Path=/api/auth; SameSite=Lax; HttpOnly"
        );
        let cleared: Vec<String> = expired_token_cookies(true)
            .iter()
            .map(SetCookie::render)
            .collect();
        assert_eq!(
            cleared,
            [
                "access_token=; Max-Age=0; Path=/; SameSite=Lax; HttpOnly; Secure",
                "refresh_token=; Max-Age=0; Path=/api/auth; SameSite=Lax; HttpOnly; Secure",
                "logged_in=; Max-Age=0; Path=/; SameSite=Lax",
            ]
        );
    }
}
