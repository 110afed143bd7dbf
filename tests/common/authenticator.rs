//! An authenticator app for the black-box tests: RFC 6238 codes computed
//! here from the base32 secret the service hands out (HMAC-SHA-1 and the
//! RFC 4226 truncation by hand, independent of the service's own crate).

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub fn decode_secret(base32_secret: &str) -> Vec<u8> {
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, base32_secret)
        .expect("a base32 secret")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The 6-digit code of the 30-second step holding `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    let counter = (unix_secs / 30).to_be_bytes();
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&counter);
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// The code of the step `offset_steps` away from now.
pub fn code(secret: &[u8], offset_steps: i64) -> String {
    code_at(secret, (unix_now() as i64 + offset_steps * 30) as u64)
}
