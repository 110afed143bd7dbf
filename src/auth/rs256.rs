//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256) on the `rsa` crate 0.10.
//!
//! jwt-simple's pure-Rust RSA goes through `rsa` 0.9 with 64-bit bignum
//! digits, which wasm32 multiplies in software: a signature costs several
//! times what it does here, on crypto-bigint's 32-bit limbs. jwt-simple has
//! no pluggable signer, so this module builds and checks the JWS itself,
//! byte for byte as jwt-simple does (header `{"alg":"RS256","kid":..,
//! "typ":"JWT"}`, claims serialised from jwt-simple's `JWTClaims`), and
//! applies jwt-simple's header and claim rules ([`VerificationOptions`]) on
//! verification.
//!
//! Signing is unblinded (the `rsa` crate's `getrandom` feature is off): its
//! modular arithmetic is constant-time, and RSA blinding on top (exponent
//! and modulus blinding in `rsa` 0.10) nearly doubles the cost of a signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use jwt_simple::JWTError;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use rsa::signature::{Keypair, SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use serde::de::DeserializeOwned;

const ALG: &str = "RS256";

/// jwt-simple's limit on the encoded header when none is configured.
const MAX_HEADER_LENGTH: usize = 8192;

/// The smallest modulus accepted: a shorter key is weak (NIST SP 800-57
/// retired 1024-bit RSA in 2013), and a weak setting is a malformed one.
pub const MIN_MODULUS_BITS: u32 = 2048;

/// The largest modulus accepted, as with jwt-simple's RSA before.
pub const MAX_MODULUS_BITS: u32 = 4096;

/// Why a configured RSA key is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum RsaKeyError {
    /// Not an RSA key in an encoding this module reads (the `rsa` crate
    /// itself refuses moduli under 1024 bits here).
    Unreadable,
    /// A modulus of this many bits, outside
    /// [`MIN_MODULUS_BITS`]`..=`[`MAX_MODULUS_BITS`].
    ModulusBits(u32),
}

/// An RSA private key (PKCS#1 or PKCS#8 PEM).
pub struct Rs256KeyPair {
    key: pkcs1v15::SigningKey<Sha256>,
}

impl Rs256KeyPair {
    /// Parses, validates and precomputes the CRT values (no exponentiation).
    pub fn from_pem(pem: &str) -> Result<Self, RsaKeyError> {
        let pem = pem.trim();
        let key = rsa::PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| RsaKeyError::Unreadable)?;
        check_modulus(&key)?;
        Ok(Rs256KeyPair {
            key: pkcs1v15::SigningKey::new(key),
        })
    }

    pub fn public_key(&self) -> Rs256PublicKey {
        Rs256PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// The compact JWS of `claims`, with `kid` in the header.
    pub fn sign<C: Serialize>(&self, kid: &str, claims: &JWTClaims<C>) -> anyhow::Result<String> {
        // jwt-simple's header field order: alg, kid, typ.
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            kid: &'a str,
            typ: &'static str,
        }
        let header = serde_json::to_vec(&Header {
            alg: ALG,
            kid,
            typ: "JWT",
        })?;
        let claims = serde_json::to_vec(claims)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.key.try_sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// An RSA public key (SPKI or PKCS#1 PEM).
pub struct Rs256PublicKey {
    key: pkcs1v15::VerifyingKey<Sha256>,
}

impl Rs256PublicKey {
    pub fn from_pem(pem: &str) -> Result<Self, RsaKeyError> {
        let pem = pem.trim();
        let key = rsa::PublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem))
            .map_err(|_| RsaKeyError::Unreadable)?;
        check_modulus(&key)?;
        Ok(Rs256PublicKey {
            key: pkcs1v15::VerifyingKey::new(key),
        })
    }

    /// The modulus and the public exponent, big-endian without leading zeros.
    pub fn components(&self) -> (Box<[u8]>, Box<[u8]>) {
        let key: &rsa::PublicKey = self.key.as_ref();
        (key.n_bytes(), key.e_bytes())
    }

    /// Checks `token` as jwt-simple's `verify_token` does: the header rules,
    /// then the signature, then the claims against `options`.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        options: &VerificationOptions,
    ) -> Result<JWTClaims<C>, jwt_simple::Error> {
        if let Some(max) = options.max_token_length {
            ensure(token.len() <= max, JWTError::TokenTooLong)?;
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JWTError::CompactEncodingError.into());
        };
        let max_header = options.max_header_length.unwrap_or(MAX_HEADER_LENGTH);
        ensure(header_b64.len() <= max_header, JWTError::HeaderTooLarge)?;
        check_header(&Token::decode_metadata(header_b64)?, options)?;

        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JWTError::InvalidSignature)?;
        let signature = pkcs1v15::Signature::try_from(signature.as_slice())
            .map_err(|_| JWTError::InvalidSignature)?;
        let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
        self.key
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| JWTError::InvalidSignature)?;

        let claims = URL_SAFE_NO_PAD
            .decode(claims_b64)
            .map_err(|_| JWTError::CompactEncodingError)?;
        let claims: JWTClaims<C> = serde_json::from_slice(&claims)?;
        validate_claims(&claims, options)?;
        Ok(claims)
    }
}

/// Refuses moduli under [`MIN_MODULUS_BITS`] or over [`MAX_MODULUS_BITS`],
/// counted in bits.
fn check_modulus(key: &impl PublicKeyParts) -> Result<(), RsaKeyError> {
    let bits = key.n().bit_width();
    if (MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(RsaKeyError::ModulusBits(bits))
    }
}

fn ensure(condition: bool, error: JWTError) -> Result<(), jwt_simple::Error> {
    if condition {
        Ok(())
    } else {
        Err(error.into())
    }
}

/// jwt-simple's header rules (`Token::verify`), for RS256.
fn check_header(
    metadata: &TokenMetadata,
    options: &VerificationOptions,
) -> Result<(), jwt_simple::Error> {
    if metadata.critical().is_some_and(|crit| !crit.is_empty()) {
        return Err(JWTError::UnknownCriticalExtension.into());
    }
    let typ = metadata.signature_type().map(str::to_uppercase);
    if let Some(expected) = &options.required_signature_type {
        ensure(
            typ.as_deref() == Some(expected.to_uppercase().as_str()),
            JWTError::RequiredSignatureTypeMismatch,
        )?;
    } else if let Some(typ) = &typ {
        ensure(typ == "JWT" || typ.ends_with("+JWT"), JWTError::NotJWT)?;
    }
    if let Some(expected) = &options.required_content_type {
        let cty = metadata.content_type().map(str::to_uppercase);
        ensure(
            cty.as_deref() == Some(expected.to_uppercase().as_str()),
            JWTError::RequiredContentTypeMismatch,
        )?;
    }
    ensure(metadata.algorithm() == ALG, JWTError::AlgorithmMismatch)?;
    if let Some(required) = &options.required_key_id {
        let kid = metadata.key_id().ok_or(JWTError::MissingJWTKeyIdentifier)?;
        ensure(kid == required, JWTError::KeyIdentifierMismatch)?;
    }
    Ok(())
}

/// jwt-simple's `JWTClaims::validate` (crate-private there), rule for rule.
fn validate_claims<C>(
    claims: &JWTClaims<C>,
    options: &VerificationOptions,
) -> Result<(), jwt_simple::Error> {
    let now = options
        .artificial_time
        .unwrap_or_else(Clock::now_since_epoch);
    let tolerance = options.time_tolerance.unwrap_or_default();

    if let Some(reject_before) = options.reject_before {
        let issued_at = claims.issued_at.ok_or(JWTError::OldTokenReused)?;
        ensure(issued_at >= reject_before, JWTError::OldTokenReused)?;
    }
    if let Some(issued_at) = claims.issued_at {
        if !options.accept_future {
            ensure(issued_at <= now + tolerance, JWTError::ClockDrift)?;
        }
        if let Some(max_validity) = options.max_validity {
            ensure(
                now <= issued_at || now - issued_at <= max_validity,
                JWTError::TokenIsTooOld,
            )?;
        }
    }
    if !options.accept_future {
        if let Some(invalid_before) = claims.invalid_before {
            ensure(
                now + tolerance >= invalid_before,
                JWTError::TokenNotValidYet,
            )?;
        }
    }
    if let Some(expires_at) = claims.expires_at {
        ensure(
            now >= tolerance && now - tolerance <= expires_at,
            JWTError::TokenHasExpired,
        )?;
    }
    if let Some(allowed) = &options.allowed_issuers {
        let issuer = claims
            .issuer
            .as_ref()
            .ok_or(JWTError::RequiredIssuerMissing)?;
        ensure(allowed.contains(issuer), JWTError::RequiredIssuerMismatch)?;
    }
    if let Some(required) = &options.required_subject {
        let subject = claims
            .subject
            .as_ref()
            .ok_or(JWTError::RequiredSubjectMissing)?;
        ensure(subject == required, JWTError::RequiredSubjectMismatch)?;
    }
    if let Some(required) = &options.required_nonce {
        let nonce = claims
            .nonce
            .as_ref()
            .ok_or(JWTError::RequiredNonceMissing)?;
        ensure(nonce == required, JWTError::RequiredNonceMismatch)?;
    }
    if let Some(allowed) = &options.allowed_audiences {
        let audiences = claims
            .audiences
            .as_ref()
            .ok_or(JWTError::RequiredAudienceMissing)?;
        ensure(
            audiences.contains(allowed),
            JWTError::RequiredAudienceMismatch,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::tests::rsa_pem_pair;

    #[test]
    fn keys_under_2048_bits_are_refused_with_their_size() {
        let (private, public) = rsa_pem_pair(1024);
        assert_eq!(
            Rs256KeyPair::from_pem(&private).err(),
            Some(RsaKeyError::ModulusBits(1024))
        );
        assert_eq!(
            Rs256PublicKey::from_pem(&public).err(),
            Some(RsaKeyError::ModulusBits(1024))
        );
        let (private, public) = rsa_pem_pair(2048);
        assert!(Rs256KeyPair::from_pem(&private).is_ok());
        assert!(Rs256PublicKey::from_pem(&public).is_ok());
    }

    #[test]
    fn the_modulus_is_counted_in_bits() {
        // 2047 bits fill the same 256 bytes as 2048, and are still too few.
        let (_, public) = rsa_pem_pair(2047);
        assert_eq!(
            Rs256PublicKey::from_pem(&public).err(),
            Some(RsaKeyError::ModulusBits(2047))
        );
        assert_eq!(
            Rs256PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----")
                .err(),
            Some(RsaKeyError::Unreadable)
        );
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
    struct Custom {
        sid: String,
    }

    fn claims() -> JWTClaims<Custom> {
        Claims::with_custom_claims(Custom { sid: "s".into() }, Duration::from_secs(900))
            .with_subject("u")
            .with_issuer("iss")
            .with_audience("aud")
            .with_jwt_id("j")
    }

    #[test]
    fn tokens_are_byte_identical_to_jwt_simple_and_cross_verify() {
        let pair = RS256KeyPair::generate(2048).unwrap();
        let pem = pair.to_pem().unwrap();
        let ours = Rs256KeyPair::from_pem(&pem).unwrap();
        let claims = claims();
        // PKCS#1 v1.5 signatures are deterministic: same key, same bytes.
        let theirs = pair.with_key_id("k").sign(claims.clone()).unwrap();
        assert_eq!(ours.sign("k", &claims).unwrap(), theirs);

        let public_pem = RS256KeyPair::from_pem(&pem)
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap();
        let public = Rs256PublicKey::from_pem(&public_pem).unwrap();
        let options = VerificationOptions {
            required_key_id: Some("k".into()),
            allowed_issuers: Some(HashSet::from(["iss".to_string()])),
            allowed_audiences: Some(HashSet::from(["aud".to_string()])),
            ..Default::default()
        };
        let verified = public.verify::<Custom>(&theirs, &options).unwrap();
        assert_eq!(verified.custom, Custom { sid: "s".into() });
        let jwt_simple_public = RS256PublicKey::from_pem(&public_pem).unwrap();
        assert_eq!(
            jwt_simple_public.to_components().n,
            public.components().0.to_vec()
        );
        assert_eq!(
            jwt_simple_public.to_components().e,
            public.components().1.to_vec()
        );

        let wrong_kid = VerificationOptions {
            required_key_id: Some("other".into()),
            ..Default::default()
        };
        assert!(public.verify::<Custom>(&theirs, &wrong_kid).is_err());
        let mut tampered = theirs.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert!(public.verify::<Custom>(&tampered, &options).is_err());
        assert!(public
            .verify::<Custom>(&format!("{theirs}."), &options)
            .is_err());
    }
}
