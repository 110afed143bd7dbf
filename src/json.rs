//! The JSON shapes responses share.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::store::User;

/// The user object of every response that returns a user. Never the hash.
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "photo": user.photo,
        "role": user.role,
        "verified": user.verified,
        "created_at": rfc3339(user.created_at_us),
        "updated_at": rfc3339(user.updated_at_us),
    })
}

/// RFC 3339 in UTC with microseconds: `2026-11-29T03:27:03.123456Z`.
pub fn rfc3339(micros: i64) -> String {
    // Whole microseconds always format to six fractional digits.
    let nanos = i128::from(micros) * 1_000;
    let instant =
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let text = instant.format(&Rfc3339).unwrap_or_default();
    with_six_fraction_digits(&text)
}

/// `time` drops trailing zeros of the fraction; the contract's examples use
/// exactly six digits.
fn with_six_fraction_digits(text: &str) -> String {
    let body = text.trim_end_matches('Z');
    let (seconds, fraction) = body.split_once('.').unwrap_or((body, ""));
    format!("{seconds}.{:0<6}Z", &fraction[..fraction.len().min(6)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        assert_eq!(
            rfc3339(1_795_922_823_123_456),
            "2026-11-29T03:27:03.123456Z"
        );
        assert_eq!(
            rfc3339(1_795_922_823_000_000),
            "2026-11-29T03:27:03.000000Z"
        );
        assert_eq!(
            rfc3339(1_795_922_823_120_000),
            "2026-11-29T03:27:03.120000Z"
        );
    }

    #[test]
    fn the_user_object_has_exactly_the_contract_fields() {
        let user = User {
            id: "u".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$secret".into(),
            photo: None,
            role: "user".into(),
            verified: true,
            disabled: false,
            created_at_us: 0,
            updated_at_us: 0,
        };
        let json = user_json(&user);
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "created_at",
                "email",
                "id",
                "name",
                "photo",
                "role",
                "updated_at",
                "verified"
            ]
        );
        assert!(!json.to_string().contains("argon2"));
        assert_eq!(json["photo"], Value::Null);
    }
}
