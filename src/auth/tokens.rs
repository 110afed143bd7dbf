//! Access tokens: claims, signing, and strict verification (the contract's
//! rules, tighter than jwt-simple's defaults).

use std::collections::HashSet;

use jwt_simple::prelude::*;

use super::keys::{Algorithm, SigningKey, VerifyingKey};

/// jwt-simple tolerates 900 s of clock skew by default: the whole lifetime of
/// an access token. The contract allows 60 s.
pub const CLOCK_TOLERANCE_SECS: u64 = 60;

/// Longer tokens are refused before any parsing.
const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// The claims of ours beside the registered ones (`sub`, `jti`, `iat`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    /// The server-side session this token belongs to.
    pub sid: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// How the session's login was authenticated (RFC 8176 values).
    #[serde(default)]
    pub amr: Vec<String>,
}

pub const ACCESS_TYPE: &str = "access";

/// How a session's login was authenticated: the `amr` claim (RFC 8176),
/// kept by the session so that refreshed access tokens carry it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Amr {
    #[default]
    Password,
    PasswordAndOtp,
}

impl Amr {
    pub fn values(self) -> &'static [&'static str] {
        match self {
            Amr::Password => &["pwd"],
            Amr::PasswordAndOtp => &["pwd", "otp"],
        }
    }

    /// As the session row keeps it: the values separated by spaces.
    pub fn stored(self) -> String {
        self.values().join(" ")
    }

    pub fn from_stored(stored: &str) -> Amr {
        Amr::from_values(stored.split(' '))
    }

    /// From the claim's values: `otp` among them means two-factor passed.
    fn from_values<'a>(mut values: impl Iterator<Item = &'a str>) -> Amr {
        if values.any(|value| value == "otp") {
            Amr::PasswordAndOtp
        } else {
            Amr::Password
        }
    }
}

/// Who an access token speaks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessIdentity {
    pub user_id: String,
    pub session_id: String,
    pub amr: Amr,
}

/// `iss` and `aud` when configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Signs an access token for `user_id` in session `session_id`.
pub fn issue_access_token(
    key: &SigningKey,
    identity: &AccessIdentity,
    lifetime_secs: u64,
    audience: &Audience,
) -> anyhow::Result<String> {
    let custom = AccessClaims {
        sid: identity.session_id.clone(),
        kind: ACCESS_TYPE.into(),
        amr: identity
            .amr
            .values()
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
    };
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(lifetime_secs))
        .with_subject(&identity.user_id)
        .with_jwt_id(uuid::Uuid::new_v4().to_string());
    if let Some(issuer) = &audience.issuer {
        claims = claims.with_issuer(issuer);
    }
    if let Some(aud) = &audience.audience {
        claims = claims.with_audience(aud);
    }
    key.sign(claims)
}

/// Why a token was refused (for logs and tests; clients only see a `401`).
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRejection {
    Malformed,
    MissingKeyId,
    UnknownKeyId,
    WrongAlgorithm,
    Invalid(String),
    WrongType,
}

/// Verifies an access token against the configured keys: the header's `kid`
/// picks the key (required), its `alg` must be the configured one, `exp` and
/// `nbf` hold within 60 s, `iss`/`aud` match when configured, and
/// `type` is `access`.
pub fn verify_access_token(
    token: &str,
    algorithm: Algorithm,
    keys: &[VerifyingKey],
    audience: &Audience,
) -> Result<AccessIdentity, TokenRejection> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(TokenRejection::Malformed);
    }
    let metadata = Token::decode_metadata(token).map_err(|_| TokenRejection::Malformed)?;
    if metadata.algorithm() != algorithm.name() {
        return Err(TokenRejection::WrongAlgorithm);
    }
    let kid = metadata.key_id().ok_or(TokenRejection::MissingKeyId)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(TokenRejection::UnknownKeyId)?;
    let options = VerificationOptions {
        required_key_id: Some(kid.to_owned()),
        time_tolerance: Some(Duration::from_secs(CLOCK_TOLERANCE_SECS)),
        allowed_issuers: audience.issuer.clone().map(|i| HashSet::from([i])),
        allowed_audiences: audience.audience.clone().map(|a| HashSet::from([a])),
        max_token_length: Some(MAX_TOKEN_LENGTH),
        ..VerificationOptions::default()
    };
    let claims = key
        .verify::<AccessClaims>(token, options)
        .map_err(|e| TokenRejection::Invalid(e.to_string()))?;
    if claims.custom.kind != ACCESS_TYPE || claims.expires_at.is_none() {
        return Err(TokenRejection::WrongType);
    }
    // Both ids are UUIDs in tokens we issue; anything else never reaches
    // the database.
    let user_id = claims.subject.filter(|s| uuid::Uuid::parse_str(s).is_ok());
    let user_id = user_id.ok_or(TokenRejection::WrongType)?;
    if uuid::Uuid::parse_str(&claims.custom.sid).is_err() {
        return Err(TokenRejection::WrongType);
    }
    let amr = Amr::from_values(claims.custom.amr.iter().map(String::as_str));
    Ok(AccessIdentity {
        user_id,
        session_id: claims.custom.sid,
        amr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use std::sync::OnceLock;

    /// One RSA key for the whole test binary (generating one is slow).
    fn rsa_pem() -> &'static str {
        static PEM: OnceLock<String> = OnceLock::new();
        PEM.get_or_init(|| RS256KeyPair::generate(2048).unwrap().to_pem().unwrap())
    }

    fn rsa_keys() -> (SigningKey, VerifyingKey) {
        let signing = SigningKey::from_config(Algorithm::RS256, rsa_pem()).unwrap();
        let public = signing.public_key();
        (signing, public)
    }

    fn identity() -> AccessIdentity {
        AccessIdentity {
            user_id: "8a4c1e3e-1111-4d6a-9a55-000000000001".into(),
            session_id: "0f6a7c1e-2222-4d6a-9a55-000000000002".into(),
            amr: Amr::Password,
        }
    }

    /// Claims as we issue them, of type `kind`, valid for `lifetime_secs`.
    fn claims_of(kind: &str, lifetime_secs: u64) -> JWTClaims<AccessClaims> {
        let custom = AccessClaims {
            sid: identity().session_id,
            kind: kind.into(),
            amr: vec!["pwd".into()],
        };
        Claims::with_custom_claims(custom, Duration::from_secs(lifetime_secs))
            .with_subject(identity().user_id)
    }

    fn part(token: &str, index: usize) -> serde_json::Value {
        let raw = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
    }

    #[test]
    fn issued_token_has_contract_header_and_claims() {
        let (signing, public) = rsa_keys();
        let aud = Audience {
            issuer: Some("https://auth.example".into()),
            audience: Some("api".into()),
        };
        let token = issue_access_token(&signing, &identity(), 900, &aud).unwrap();
        let header = part(&token, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], public.kid.as_str());
        let claims = part(&token, 1);
        assert_eq!(claims["sub"], identity().user_id.as_str());
        assert_eq!(claims["sid"], identity().session_id.as_str());
        assert_eq!(claims["type"], "access");
        assert_eq!(claims["iss"], "https://auth.example");
        assert_eq!(claims["aud"], "api");
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 900);
        assert_eq!(claims["nbf"].as_u64(), Some(iat));
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

        let verified = verify_access_token(&token, Algorithm::RS256, &[public], &aud).unwrap();
        assert_eq!(verified, identity());
    }

    #[test]
    fn wrong_issuer_audience_kid_or_algorithm_is_rejected() {
        let (signing, public) = rsa_keys();
        let aud = Audience {
            issuer: Some("iss-a".into()),
            audience: Some("aud-a".into()),
        };
        let token = issue_access_token(&signing, &identity(), 900, &aud).unwrap();
        let other_iss = Audience {
            issuer: Some("iss-b".into()),
            ..aud.clone()
        };
        assert!(verify_access_token(&token, Algorithm::RS256, &[public], &other_iss).is_err());
        let (_, public) = rsa_keys();
        let other_aud = Audience {
            audience: Some("aud-b".into()),
            ..aud.clone()
        };
        assert!(verify_access_token(&token, Algorithm::RS256, &[public], &other_aud).is_err());
        assert_eq!(
            verify_access_token(&token, Algorithm::RS256, &[], &aud),
            Err(TokenRejection::UnknownKeyId)
        );
        let (_, public) = rsa_keys();
        assert_eq!(
            verify_access_token(&token, Algorithm::EdDSA, &[public], &aud),
            Err(TokenRejection::WrongAlgorithm)
        );
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let (signing, public) = rsa_keys();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x","sid":"y","type":"access","exp":99999999999}"#)
        );
        let keys = [public];
        assert!(verify_access_token(&none, Algorithm::RS256, &keys, &Audience::default()).is_err());

        // HS256 signed with the public key's PEM as the secret.
        let hs = HS256Key::from_bytes(rsa_pem().as_bytes()).with_key_id(&keys[0].kid);
        let claims = claims_of("access", 60);
        let forged = hs.authenticate(claims).unwrap();
        assert_eq!(
            verify_access_token(&forged, Algorithm::RS256, &keys, &Audience::default()),
            Err(TokenRejection::WrongAlgorithm)
        );

        // A valid token with its signature truncated.
        let token = issue_access_token(&signing, &identity(), 900, &Audience::default()).unwrap();
        let truncated = &token[..token.len() - 4];
        assert!(
            verify_access_token(truncated, Algorithm::RS256, &keys, &Audience::default()).is_err()
        );
    }

    #[test]
    fn a_token_without_kid_is_rejected() {
        let pair = RS256KeyPair::from_pem(rsa_pem()).unwrap();
        let claims = claims_of("access", 60);
        let token = pair.sign(claims).unwrap();
        let (_, public) = rsa_keys();
        assert_eq!(
            verify_access_token(&token, Algorithm::RS256, &[public], &Audience::default()),
            Err(TokenRejection::MissingKeyId)
        );
    }

    #[test]
    fn expiry_is_enforced_with_60_seconds_of_tolerance() {
        let (signing, public) = rsa_keys();
        let kid = public.kid.clone();
        let pair = RS256KeyPair::from_pem(rsa_pem()).unwrap().with_key_id(&kid);
        let sign_expired = |seconds_ago: u64| {
            let now = Clock::now_since_epoch();
            let mut claims = claims_of("access", 1);
            claims.issued_at = Some(now - Duration::from_secs(seconds_ago + 10));
            claims.invalid_before = claims.issued_at;
            claims.expires_at = Some(now - Duration::from_secs(seconds_ago));
            pair.sign(claims).unwrap()
        };
        let keys = [public];
        assert!(verify_access_token(
            &sign_expired(120),
            Algorithm::RS256,
            &keys,
            &Audience::default()
        )
        .is_err());
        assert!(verify_access_token(
            &sign_expired(30),
            Algorithm::RS256,
            &keys,
            &Audience::default()
        )
        .is_ok());
        drop(signing);
    }

    #[test]
    fn a_token_of_another_type_is_rejected() {
        let pair = RS256KeyPair::from_pem(rsa_pem()).unwrap();
        let (_, public) = rsa_keys();
        let pair = pair.with_key_id(&public.kid);
        let claims = claims_of("refresh", 60);
        let token = pair.sign(claims).unwrap();
        assert_eq!(
            verify_access_token(&token, Algorithm::RS256, &[public], &Audience::default()),
            Err(TokenRejection::WrongType)
        );
    }

    #[test]
    fn amr_is_pwd_or_pwd_otp_and_survives_a_round_trip() {
        let (signing, _) = rsa_keys();
        for (amr, claim) in [
            (Amr::Password, serde_json::json!(["pwd"])),
            (Amr::PasswordAndOtp, serde_json::json!(["pwd", "otp"])),
        ] {
            let identity = AccessIdentity { amr, ..identity() };
            let token = issue_access_token(&signing, &identity, 900, &Audience::default()).unwrap();
            assert_eq!(part(&token, 1)["amr"], claim);
            let public = signing.public_key();
            let verified =
                verify_access_token(&token, Algorithm::RS256, &[public], &Audience::default());
            assert_eq!(verified.unwrap().amr, amr);
            assert_eq!(Amr::from_stored(&amr.stored()), amr);
        }
        assert_eq!(Amr::PasswordAndOtp.stored(), "pwd otp");
        assert_eq!(Amr::from_stored("pwd"), Amr::Password);
    }
}
