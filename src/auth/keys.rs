//! Signing and verification keys: PEM or base64-of-PEM decoding, the
//! configured algorithm, RFC 7638 thumbprints (`kid`) and JWKs.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jwt_simple::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::rs256::{Rs256KeyPair, Rs256PublicKey, RsaKeyError, MAX_MODULUS_BITS, MIN_MODULUS_BITS};

/// The signature algorithms the service offers (`jwt_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RS256,
    EdDSA,
    ES256,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "RS256" => Some(Algorithm::RS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
        }
    }
}

/// Turns a configured key into PEM text: PEM as is (also with literal `\n`
/// escapes, as some secret stores deliver it), or base64 of the PEM (the
/// tutorial's format).
pub fn decode_pem(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        return Ok(value.replace("\\n", "\n"));
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| "neither PEM nor base64 of a PEM".to_string())?;
    let text =
        String::from_utf8(bytes).map_err(|_| "base64 does not decode to PEM text".to_string())?;
    if text.trim_start().starts_with("-----BEGIN") {
        Ok(text)
    } else {
        Err("base64 does not decode to a PEM block".into())
    }
}

/// A private key of the configured algorithm, with the `kid` of its public
/// half.
pub enum SigningKey {
    // RS256 runs on the `rsa` crate 0.10 (see `rs256`), with its `kid`.
    Rs256(Box<Rs256KeyPair>, String),
    EdDsa(Ed25519KeyPair),
    Es256(ES256KeyPair),
}

impl SigningKey {
    pub fn from_config(algorithm: Algorithm, value: &str) -> Result<Self, String> {
        let pem = decode_pem(value)?;
        let unreadable = |_| format!("not a {} private key in PEM", algorithm.name());
        let key = match algorithm {
            Algorithm::RS256 => SigningKey::Rs256(
                Box::new(Rs256KeyPair::from_pem(&pem).map_err(|e| rsa_problem(e, "private"))?),
                String::new(),
            ),
            Algorithm::EdDSA => {
                SigningKey::EdDsa(Ed25519KeyPair::from_pem(&pem).map_err(unreadable)?)
            }
            Algorithm::ES256 => {
                SigningKey::Es256(ES256KeyPair::from_pem(&pem).map_err(unreadable)?)
            }
        };
        Ok(key.with_own_kid())
    }

    fn with_own_kid(self) -> Self {
        let kid = self.public_key().kid;
        match self {
            SigningKey::Rs256(k, _) => SigningKey::Rs256(k, kid),
            SigningKey::EdDsa(k) => SigningKey::EdDsa(k.with_key_id(&kid)),
            SigningKey::Es256(k) => SigningKey::Es256(k.with_key_id(&kid)),
        }
    }

    pub fn public_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Rs256(k, _) => VerifyingKey::from_key(Key::Rs256(Box::new(k.public_key()))),
            SigningKey::EdDsa(k) => VerifyingKey::from_key(Key::EdDsa(k.public_key())),
            SigningKey::Es256(k) => VerifyingKey::from_key(Key::Es256(k.public_key())),
        }
    }

    pub fn sign<C: Serialize + DeserializeOwned>(
        &self,
        claims: JWTClaims<C>,
    ) -> anyhow::Result<String> {
        let token = match self {
            SigningKey::Rs256(k, kid) => k.sign(kid, &claims),
            SigningKey::EdDsa(k) => k.sign(claims),
            SigningKey::Es256(k) => k.sign(claims),
        };
        token.map_err(|e| anyhow::anyhow!("signing failed: {e}"))
    }
}

pub enum Key {
    Rs256(Box<Rs256PublicKey>),
    EdDsa(Ed25519PublicKey),
    Es256(ES256PublicKey),
}

/// A public key with its RFC 7638 thumbprint and its JWK.
pub struct VerifyingKey {
    pub key: Key,
    pub kid: String,
}

impl VerifyingKey {
    pub fn from_config(algorithm: Algorithm, value: &str) -> Result<Self, String> {
        let pem = decode_pem(value)?;
        let unreadable = |_| format!("not a {} public key in PEM", algorithm.name());
        let key = match algorithm {
            Algorithm::RS256 => Key::Rs256(Box::new(
                Rs256PublicKey::from_pem(&pem).map_err(|e| rsa_problem(e, "public"))?,
            )),
            Algorithm::EdDSA => Key::EdDsa(Ed25519PublicKey::from_pem(&pem).map_err(unreadable)?),
            Algorithm::ES256 => Key::Es256(ES256PublicKey::from_pem(&pem).map_err(unreadable)?),
        };
        Ok(VerifyingKey::from_key(key))
    }

    fn from_key(key: Key) -> Self {
        let kid = thumbprint(&required_members(&key));
        VerifyingKey { key, kid }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Key::Rs256(_) => Algorithm::RS256,
            Key::EdDsa(_) => Algorithm::EdDSA,
            Key::Es256(_) => Algorithm::ES256,
        }
    }

    /// The RFC 7517 JWK, as published at `/.well-known/jwks.json`.
    pub fn jwk(&self) -> Value {
        let mut jwk = required_members(&self.key);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(self.algorithm().name());
        jwk["kid"] = json!(self.kid);
        jwk
    }

    pub fn verify<C: Serialize + DeserializeOwned>(
        &self,
        token: &str,
        options: VerificationOptions,
    ) -> Result<JWTClaims<C>, jwt_simple::Error> {
        match &self.key {
            Key::Rs256(k) => k.verify(token, &options),
            Key::EdDsa(k) => k.verify_token(token, Some(options)),
            Key::Es256(k) => k.verify_token(token, Some(options)),
        }
    }
}

/// What is wrong with a configured RSA key (`half`: private or public), for
/// the log line that names its variable.
fn rsa_problem(error: RsaKeyError, half: &str) -> String {
    match error {
        RsaKeyError::Unreadable => format!("not a RS256 {half} key in PEM"),
        RsaKeyError::ModulusBits(bits) => format!(
            "an RSA key of {bits} bits; {MIN_MODULUS_BITS} to {MAX_MODULUS_BITS} are accepted"
        ),
    }
}

/// The members RFC 7638 hashes for each key type (and the JWK's core).
fn required_members(key: &Key) -> Value {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match key {
        Key::Rs256(k) => {
            let (n, e) = k.components();
            json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)})
        }
        Key::EdDsa(k) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&k.to_bytes())}),
        Key::Es256(k) => {
            // SEC1 uncompressed point: 0x04 || x || y.
            let point = k.public_key().to_bytes_uncompressed();
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
        }
    }
}

/// RFC 7638: SHA-256 over the required members, lexicographically ordered,
/// no whitespace (serde_json's map is ordered by key), base64url.
fn thumbprint(members: &Value) -> String {
    let canonical = serde_json::to_string(members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    /// The operating system's random source for `rsa`'s key generation
    /// (the crate's own is behind its `getrandom` feature, which is off).
    struct OsRandom;

    // A test may panic when the OS has no randomness to give.
    impl rsa::rand_core::TryRng for OsRandom {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(getrandom::u32().unwrap())
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(getrandom::u64().unwrap())
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            getrandom::fill(dst).unwrap();
            Ok(())
        }
    }

    impl rsa::rand_core::TryCryptoRng for OsRandom {}

    /// A fresh RSA key pair of `bits` as (private PKCS#8, public SPKI) PEM,
    /// for sizes jwt-simple will not generate (it makes 2048 and up only).
    pub fn rsa_pem_pair(bits: usize) -> (String, String) {
        let key = rsa::PrivateKey::new(&mut OsRandom, bits).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private, public)
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // The example key of RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB"});
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn pem_and_base64_of_pem_both_decode() {
        let pem = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----";
        assert_eq!(decode_pem(pem).unwrap(), pem);
        let encoded = STANDARD.encode(pem);
        assert_eq!(decode_pem(&encoded).unwrap(), pem);
        let escaped = pem.replace('\n', "\\n");
        assert_eq!(decode_pem(&escaped).unwrap(), pem);
        assert!(decode_pem("not a key").is_err());
        assert!(decode_pem(&STANDARD.encode("plain text")).is_err());
    }

    #[test]
    fn algorithms_parse_by_exact_name() {
        assert_eq!(Algorithm::parse("RS256"), Some(Algorithm::RS256));
        assert_eq!(Algorithm::parse("EdDSA"), Some(Algorithm::EdDSA));
        assert_eq!(Algorithm::parse("ES256"), Some(Algorithm::ES256));
        assert_eq!(Algorithm::parse("HS256"), None);
        assert_eq!(Algorithm::parse("none"), None);
    }

    #[test]
    fn every_algorithm_round_trips_pem_and_publishes_a_jwk() {
        let ed = Ed25519KeyPair::generate();
        let signing = SigningKey::from_config(Algorithm::EdDSA, &ed.to_pem()).unwrap();
        let public =
            VerifyingKey::from_config(Algorithm::EdDSA, &ed.public_key().to_pem()).unwrap();
        assert_eq!(signing.public_key().kid, public.kid);
        assert_eq!(public.jwk()["kty"], "OKP");
        assert_eq!(public.jwk()["crv"], "Ed25519");

        let es = ES256KeyPair::generate();
        let signing = SigningKey::from_config(Algorithm::ES256, &es.to_pem().unwrap()).unwrap();
        let public =
            VerifyingKey::from_config(Algorithm::ES256, &es.public_key().to_pem().unwrap())
                .unwrap();
        assert_eq!(signing.public_key().kid, public.kid);
        let jwk = public.jwk();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["y"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_with_their_size() {
        let (private, public) = rsa_pem_pair(1024);
        for problem in [
            SigningKey::from_config(Algorithm::RS256, &private).err(),
            VerifyingKey::from_config(Algorithm::RS256, &public).err(),
        ] {
            assert_eq!(
                problem.as_deref(),
                Some("an RSA key of 1024 bits; 2048 to 4096 are accepted")
            );
        }
    }

    #[test]
    fn a_key_of_the_wrong_algorithm_is_refused() {
        let ed = Ed25519KeyPair::generate();
        let err = SigningKey::from_config(Algorithm::RS256, &ed.to_pem())
            .err()
            .unwrap();
        assert!(err.contains("RS256"), "{err}");
    }
}
