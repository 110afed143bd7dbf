//! Reading the `Cookie` header and writing `Set-Cookie` values.

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
}
