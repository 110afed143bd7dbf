//! The field rules of the request bodies (docs/API.md: Routes, Accounts).

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::body::{Fields, Length};

const NAME: Length = Length { min: 1, max: 100 };
const EMAIL_MAX: usize = 254;
const REGISTER_PASSWORD: Length = Length { min: 8, max: 128 };
const LOGIN_PASSWORD: Length = Length { min: 1, max: 128 };
const PHOTO: Length = Length { min: 0, max: 2048 };
const ONE_TIME_TOKEN: Length = Length { min: 1, max: 512 };
const CODE: Length = Length { min: 1, max: 64 };

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    pub name: String,
    /// Trimmed and lower-cased.
    pub email: String,
    pub password: String,
    pub password_confirm: String,
    pub photo: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoginRequest {
    /// Trimmed and lower-cased.
    pub email: String,
    pub password: String,
}

impl RegisterRequest {
    /// Every field rule, all problems reported at once. Unknown fields
    /// (`role`, `verified`, `id`, ...) are ignored.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let name = name_field(&mut fields);
        let email = email_field(&mut fields);
        let (password, password_confirm) = new_password_fields(&mut fields);
        let photo = photo_field(&mut fields);
        fields.finish()?;
        match (name, email, password, password_confirm) {
            (Some(name), Some(email), Some(password), Some(password_confirm)) => {
                Ok(RegisterRequest {
                    name,
                    email,
                    password,
                    password_confirm,
                    photo,
                })
            }
            // `finish` returned Ok, so every required field was read.
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

impl LoginRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let email = email_field(&mut fields);
        let password = password_field(&mut fields);
        fields.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(LoginRequest { email, password }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{"token"}` of `verify-email`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBody {
    pub token: String,
}

/// `{"email"}` of `resend-verification` and `forgot-password`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailBody {
    /// Trimmed and lower-cased.
    pub email: String,
}

/// `reset-password`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub password: String,
    pub password_confirm: String,
}

/// `PATCH /api/users/me`: only the fields sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRequest {
    pub name: Option<String>,
    /// `Some(None)`: `"photo": null` clears it.
    pub photo: Option<Option<String>>,
}

/// `POST /api/users/me/password`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub password: String,
    pub password_confirm: String,
}

/// `DELETE /api/users/me`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteAccountRequest {
    pub password: String,
    /// A TOTP or recovery code (needed once two-factor is on).
    pub code: Option<String>,
}

/// `POST /api/users/me/mfa/totp`.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordBody {
    pub password: String,
}

/// `POST /api/users/me/mfa/totp/confirm`.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeBody {
    pub code: String,
}

/// `DELETE /api/users/me/mfa/totp`.
#[derive(Debug, Clone, PartialEq)]
pub struct DisableMfaRequest {
    pub password: String,
    pub code: String,
}

/// `POST /api/auth/login/mfa`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginMfaRequest {
    pub mfa_token: String,
    pub code: String,
}

fn password_field(fields: &mut Fields) -> Option<String> {
    let password = fields.string("password");
    fields.length("password", password, LOGIN_PASSWORD)
}

fn code_field(fields: &mut Fields) -> Option<String> {
    let code = fields.string("code");
    fields.length("code", code, CODE)
}

impl PasswordBody {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let password = password_field(&mut fields);
        fields.finish()?;
        password
            .map(|password| PasswordBody { password })
            .ok_or(ApiError::Validation(Vec::new()))
    }
}

impl CodeBody {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let code = code_field(&mut fields);
        fields.finish()?;
        code.map(|code| CodeBody { code })
            .ok_or(ApiError::Validation(Vec::new()))
    }
}

impl DisableMfaRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let password = password_field(&mut fields);
        let code = code_field(&mut fields);
        fields.finish()?;
        match (password, code) {
            (Some(password), Some(code)) => Ok(DisableMfaRequest { password, code }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

impl LoginMfaRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let mfa_token = fields.string("mfa_token");
        let mfa_token = fields.length("mfa_token", mfa_token, ONE_TIME_TOKEN);
        let code = code_field(&mut fields);
        fields.finish()?;
        match (mfa_token, code) {
            (Some(mfa_token), Some(code)) => Ok(LoginMfaRequest { mfa_token, code }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `PATCH /api/admin/users/{id}`: any of the three; unknown fields ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminUpdateRequest {
    pub verified: Option<bool>,
    /// `user` or `admin`.
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

impl AdminUpdateRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let verified = fields.optional_bool("verified");
        let disabled = fields.optional_bool("disabled");
        let role = match object.get("role") {
            None => None,
            Some(Value::String(role)) if role == "user" || role == "admin" => Some(role.clone()),
            Some(_) => {
                fields.invalid("role", "Input should be 'user' or 'admin'");
                None
            }
        };
        fields.finish()?;
        Ok(AdminUpdateRequest {
            verified,
            role,
            disabled,
        })
    }
}

impl TokenBody {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let token = token_field(&mut fields);
        fields.finish()?;
        token
            .map(|token| TokenBody { token })
            .ok_or(ApiError::Validation(Vec::new()))
    }
}

impl EmailBody {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let email = email_field(&mut fields);
        fields.finish()?;
        email
            .map(|email| EmailBody { email })
            .ok_or(ApiError::Validation(Vec::new()))
    }
}

impl ResetPasswordRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let token = token_field(&mut fields);
        let (password, password_confirm) = new_password_fields(&mut fields);
        fields.finish()?;
        match (token, password, password_confirm) {
            (Some(token), Some(password), Some(password_confirm)) => Ok(ResetPasswordRequest {
                token,
                password,
                password_confirm,
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

impl ProfileRequest {
    /// The register rules for the fields present; `name: null` is no name.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let name = object
            .contains_key("name")
            .then(|| name_field(&mut fields))
            .flatten();
        let photo = object
            .contains_key("photo")
            .then(|| photo_field(&mut fields));
        fields.finish()?;
        Ok(ProfileRequest { name, photo })
    }
}

impl ChangePasswordRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let current = fields.string("currentPassword");
        let current = fields.length("currentPassword", current, LOGIN_PASSWORD);
        let (password, password_confirm) = new_password_fields(&mut fields);
        fields.finish()?;
        match (current, password, password_confirm) {
            (Some(current_password), Some(password), Some(password_confirm)) => {
                Ok(ChangePasswordRequest {
                    current_password,
                    password,
                    password_confirm,
                })
            }
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

impl DeleteAccountRequest {
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(object);
        let password = password_field(&mut fields);
        let code = fields.optional_string("code");
        let code = fields.length("code", code, CODE);
        fields.finish()?;
        password
            .map(|password| DeleteAccountRequest { password, code })
            .ok_or(ApiError::Validation(Vec::new()))
    }
}

fn token_field(fields: &mut Fields) -> Option<String> {
    let token = fields.string("token");
    fields.length("token", token, ONE_TIME_TOKEN)
}

/// `password` (the register rules) and `passwordConfirm`.
fn new_password_fields(fields: &mut Fields) -> (Option<String>, Option<String>) {
    let password = fields.string("password");
    let password = fields.length("password", password, REGISTER_PASSWORD);
    (password, fields.string("passwordConfirm"))
}

/// `name`: trimmed, 1 to 100 characters, no NUL.
fn name_field(fields: &mut Fields) -> Option<String> {
    let name = fields.string("name").map(|n| n.trim().to_owned());
    let name = fields.length("name", name, NAME);
    no_nul(fields, "name", name)
}

/// `photo`: a string of at most 2048 characters, or `null`.
fn photo_field(fields: &mut Fields) -> Option<String> {
    let photo = fields.optional_string("photo");
    let photo = fields.length("photo", photo, PHOTO);
    no_nul(fields, "photo", photo)
}

fn no_nul(fields: &mut Fields, field: &str, value: Option<String>) -> Option<String> {
    if value.as_deref().is_some_and(|v| v.contains('\0')) {
        fields.invalid(field, "Value error, must not contain NUL characters");
        return None;
    }
    value
}

/// Reads `email`, trims and lower-cases it, and checks it is a plain address.
fn email_field(fields: &mut Fields) -> Option<String> {
    let email = normalize_email(&fields.string("email")?);
    match check_email(&email) {
        Ok(()) => Some(email),
        Err(problem) => {
            fields.invalid(
                "email",
                format!("value is not a valid email address: {problem}"),
            );
            None
        }
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plain `local@domain` address: no display name, no comments, a dot in the
/// domain, at most 254 characters.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    if email.chars().count() > EMAIL_MAX {
        return Err("it is longer than 254 characters");
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()\",;:\\[]".contains(c))
    {
        return Err("it contains a character an address cannot have");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("it must have an @-sign");
    };
    if local.is_empty() || local.contains('@') {
        return Err("there must be exactly one @-sign with something before it");
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err("the domain must contain a dot between its labels");
    }
    // The contract's only length rule is 254 characters in all; RFC 5321's
    // 64-character local part and 63-character labels are not enforced.
    use email_address::{EmailAddress, Error};
    match email.parse::<EmailAddress>() {
        Ok(_) | Err(Error::LocalPartTooLong | Error::DomainTooLong | Error::SubDomainTooLong) => {
            Ok(())
        }
        Err(_) => Err("it is not a valid address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn register(body: Value) -> Result<RegisterRequest, ApiError> {
        RegisterRequest::from_json(body.as_object().unwrap())
    }

    fn failed_fields(result: Result<RegisterRequest, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| e.loc[1].clone()).collect()
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }

    fn valid() -> Value {
        json!({"name": "  Ada  ", "email": " Ada@Example.COM ", "password": "password123",
               "passwordConfirm": "password123", "role": "admin", "verified": false})
    }

    #[test]
    fn a_valid_body_is_normalised() {
        let request = register(valid()).unwrap();
        assert_eq!(request.name, "Ada");
        assert_eq!(request.email, "ada@example.com");
        assert_eq!(request.photo, None);
    }

    #[test]
    fn every_broken_field_is_reported() {
        let body = json!({"name": "   ", "email": "nope", "password": "short", "photo": 5});
        assert_eq!(
            failed_fields(register(body)),
            vec!["name", "email", "password", "passwordConfirm", "photo"]
        );
    }

    #[test]
    fn limits_are_inclusive_and_count_code_points() {
        let mut body = valid();
        body["name"] = json!("é".repeat(100));
        body["password"] = json!("ü".repeat(128));
        body["passwordConfirm"] = body["password"].clone();
        body["photo"] = json!("p".repeat(2048));
        assert!(register(body.clone()).is_ok());
        body["name"] = json!("é".repeat(101));
        body["password"] = json!("ü".repeat(129));
        body["photo"] = json!("p".repeat(2049));
        assert_eq!(
            failed_fields(register(body)),
            vec!["name", "password", "photo"]
        );
    }

    #[test]
    fn nul_characters_are_refused_where_they_would_be_stored() {
        let mut body = valid();
        body["name"] = json!("A\u{0}B");
        assert_eq!(failed_fields(register(body)), vec!["name"]);
    }

    #[test]
    fn email_rules() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x@xn--80ak6aa92e.com",
        ] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "plain",
            "a@b",
            "@b.co",
            "a@.co",
            "a@b.",
            "Ada <ada@example.com>",
            "a b@c.de",
            "a@b@c.de",
            "a@b.co\u{0}",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert!(check_email(&long).is_err());
        let longest = format!("{}@example.com", "a".repeat(242));
        assert_eq!(longest.len(), 254);
        assert_eq!(check_email(&longest), Ok(()));
    }

    #[test]
    fn login_needs_a_valid_email_and_a_password() {
        let ok = LoginRequest::from_json(
            json!({"email": "A@B.CO", "password": "x"})
                .as_object()
                .unwrap(),
        );
        assert_eq!(ok.unwrap().email, "a@b.co");
        let bad =
            LoginRequest::from_json(json!({"email": "x", "password": ""}).as_object().unwrap());
        assert!(matches!(bad, Err(ApiError::Validation(e)) if e.len() == 2));
    }

    #[test]
    fn an_admin_update_takes_booleans_and_a_known_role_only() {
        let parse = |body: Value| AdminUpdateRequest::from_json(body.as_object().unwrap());
        assert_eq!(
            parse(serde_json::json!({"verified": true, "role": "admin", "x": 1})).unwrap(),
            AdminUpdateRequest {
                verified: Some(true),
                role: Some("admin".into()),
                disabled: None,
            }
        );
        assert_eq!(
            parse(serde_json::json!({})).unwrap(),
            AdminUpdateRequest::default()
        );
        for bad in [
            serde_json::json!({"verified": "true"}),
            serde_json::json!({"disabled": null}),
            serde_json::json!({"disabled": 1}),
            serde_json::json!({"role": "root"}),
            serde_json::json!({"role": null}),
        ] {
            assert!(
                matches!(parse(bad.clone()), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }
}
