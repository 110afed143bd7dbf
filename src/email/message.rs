//! The emails the service sends, and the JSON body of their hook:
//! `{"type", "to", "user", "token"?, "link"?, "expires_at"?, "subject",
//! "text", "html"}`. `html` escapes every value that comes from a user or
//! from configuration.

use serde_json::{json, Value};

use crate::json::{rfc3339, user_json};
use crate::store::User;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Verification,
    PasswordReset,
    PasswordChanged,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Verification => "email.verification",
            EmailKind::PasswordReset => "email.password_reset",
            EmailKind::PasswordChanged => "email.password_changed",
        }
    }
}

/// A one-time token as an email carries it.
#[derive(Clone, PartialEq)]
pub struct EmailToken {
    pub token: String,
    /// The configured URL with the token in it.
    pub link: String,
    pub expires_at_us: i64,
}

impl std::fmt::Debug for EmailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailToken { .. }")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub kind: EmailKind,
    pub user: User,
    /// For verification and reset emails.
    pub token: Option<EmailToken>,
}

impl Email {
    pub fn subject(&self) -> &'static str {
        match self.kind {
            EmailKind::Verification => "Verify your email address",
            EmailKind::PasswordReset => "Reset your password",
            EmailKind::PasswordChanged => "Your password was changed",
        }
    }

    /// The paragraphs of the email, each a piece of text and maybe the link.
    fn paragraphs(&self) -> Vec<String> {
        let expires = self
            .token
            .as_ref()
            .map(|t| rfc3339(t.expires_at_us))
            .unwrap_or_default();
        match self.kind {
            EmailKind::Verification => vec![
                "Please confirm your email address by opening this link:".into(),
                format!("The link works once and expires at {expires}. If you did not create an account, ignore this email."),
            ],
            EmailKind::PasswordReset => vec![
                "Someone asked to reset the password of your account. To choose a new password, open this link:".into(),
                format!("The link works once and expires at {expires}. If you did not ask for it, ignore this email: your password stays as it is."),
            ],
            EmailKind::PasswordChanged => vec![
                "The password of your account was just changed, and your other sessions were signed out.".into(),
                "If you did not do this, reset your password at once with \"Forgot password\".".into(),
            ],
        }
    }

    pub fn text(&self) -> String {
        let mut text = format!("Hi {},\n\n", self.user.name);
        let paragraphs = self.paragraphs();
        for (index, paragraph) in paragraphs.iter().enumerate() {
            text.push_str(paragraph);
            text.push_str("\n\n");
            if let (0, Some(token)) = (index, &self.token) {
                text.push_str(&token.link);
                text.push_str("\n\n");
            }
        }
        text
    }

    pub fn html(&self) -> String {
        let mut html = format!("<p>Hi {},</p>\n", escape(&self.user.name));
        for (index, paragraph) in self.paragraphs().iter().enumerate() {
            html.push_str(&format!("<p>{}</p>\n", escape(paragraph)));
            if let (0, Some(token)) = (index, &self.token) {
                let link = escape(&token.link);
                html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>\n"));
            }
        }
        html
    }

    /// The hook's JSON body.
    pub fn webhook_body(&self) -> Value {
        let mut body = json!({
            "type": self.kind.as_str(),
            "to": self.user.email,
            "user": user_json(&self.user),
            "subject": self.subject(),
            "text": self.text(),
            "html": self.html(),
        });
        if let (Some(token), Some(object)) = (&self.token, body.as_object_mut()) {
            object.insert("token".into(), json!(token.token));
            object.insert("link".into(), json!(token.link));
            object.insert("expires_at".into(), json!(rfc3339(token.expires_at_us)));
        }
        body
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            id: "u1".into(),
            name: name.into(),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$secret".into(),
            photo: Some("\"><img src=x onerror=alert(1)>".into()),
            role: "user".into(),
            verified: false,
            disabled: false,
            created_at_us: 0,
            updated_at_us: 0,
        }
    }

    fn reset(name: &str) -> Email {
        Email {
            kind: EmailKind::PasswordReset,
            user: user(name),
            token: Some(EmailToken {
                token: "tok_123".into(),
                link: "https://app.example/reset#token=tok_123&x=\"y\"".into(),
                expires_at_us: 1_795_922_823_000_000,
            }),
        }
    }

    #[test]
    fn the_body_has_the_contract_fields() {
        let body = reset("Ada").webhook_body();
        assert_eq!(body["type"], "email.password_reset");
        assert_eq!(body["to"], "ada@example.com");
        assert_eq!(body["user"]["id"], "u1");
        assert_eq!(body["token"], "tok_123");
        assert_eq!(body["expires_at"], "2026-11-29T03:27:03.000000Z");
        assert!(body["text"]
            .as_str()
            .unwrap()
            .contains("https://app.example/reset#token=tok_123"));
        assert!(!body.to_string().contains("argon2"));
    }

    #[test]
    fn a_notice_has_no_token_link_or_expiry() {
        let email = Email {
            kind: EmailKind::PasswordChanged,
            user: user("Ada"),
            token: None,
        };
        let body = email.webhook_body();
        for field in ["token", "link", "expires_at"] {
            assert!(body.get(field).is_none(), "{field}");
        }
        assert_eq!(body["subject"], "Your password was changed");
    }

    #[test]
    fn html_escapes_every_user_value() {
        let html = reset("<script>alert('x')</script> & co").html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co"));
        assert!(
            html.contains("href=\"https://app.example/reset#token=tok_123&amp;x=&quot;y&quot;\"")
        );
    }
}
