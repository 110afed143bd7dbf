//! TOTP secrets at rest: AES-256-GCM under `mfa_encryption_key`, a fresh
//! 96-bit nonce per sealing (stored first, then ciphertext and tag), and
//! the user's id as associated data, so a sealed secret copied onto
//! another user's row does not open. Older keys
//! (`mfa_previous_encryption_keys`) still open; the caller re-seals what
//! they opened under the current key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// A 256-bit key.
#[derive(Clone, PartialEq)]
pub struct SecretKey([u8; KEY_BYTES]);

impl SecretKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<SecretKey> {
        bytes.try_into().ok().map(SecretKey)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SealError {
    Random,
    Cipher,
}

/// Seals `secret` for `user_id` under `key`.
pub fn seal(key: &SecretKey, user_id: &str, secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: user_id.as_bytes(),
            },
        )
        .map_err(|_| SealError::Cipher)?;
    Ok([nonce.as_slice(), &ciphertext].concat())
}

/// A secret opened, and whether it was sealed under an older key (so it
/// must be sealed again under the current one).
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub secret: Vec<u8>,
    pub needs_reseal: bool,
}

/// Opens `sealed` with the first of `keys` (current first) that opens it;
/// `None` when none does (another key, or tampered with).
pub fn open(keys: &[SecretKey], user_id: &str, sealed: &[u8]) -> Option<Opened> {
    if sealed.len() <= NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    keys.iter().enumerate().find_map(|(index, key)| {
        key.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: user_id.as_bytes(),
                },
            )
            .ok()
            .map(|secret| Opened {
                secret,
                needs_reseal: index > 0,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; KEY_BYTES]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_user_only() {
        let sealed = seal(&key(1), "user-1", b"totp secret").unwrap();
        assert_eq!(sealed.len(), 12 + 11 + 16, "nonce, ciphertext, tag");
        assert!(!sealed.windows(11).any(|w| w == b"totp secret"));
        let opened = open(&[key(1)], "user-1", &sealed).unwrap();
        assert_eq!(opened.secret, b"totp secret");
        assert!(!opened.needs_reseal);
        assert_eq!(open(&[key(2)], "user-1", &sealed), None, "another key");
        assert_eq!(
            open(&[key(1)], "user-2", &sealed),
            None,
            "another user's row"
        );
    }

    #[test]
    fn each_sealing_uses_a_fresh_nonce() {
        assert_ne!(
            seal(&key(1), "u", b"s").unwrap(),
            seal(&key(1), "u", b"s").unwrap()
        );
    }

    #[test]
    fn a_previous_key_opens_and_asks_for_a_reseal() {
        let sealed = seal(&key(1), "u", b"secret").unwrap();
        let opened = open(&[key(2), key(1)], "u", &sealed).unwrap();
        assert_eq!(opened.secret, b"secret");
        assert!(opened.needs_reseal);
    }

    #[test]
    fn tampered_or_short_input_does_not_open() {
        let mut sealed = seal(&key(1), "u", b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(open(&[key(1)], "u", &sealed), None);
        assert_eq!(open(&[key(1)], "u", &[0; 12]), None);
        assert_eq!(open(&[key(1)], "u", &[]), None);
        assert!(SecretKey::from_bytes(&[0; 31]).is_none());
        assert_eq!(format!("{:?}", key(7)), "SecretKey(..)");
    }
}
