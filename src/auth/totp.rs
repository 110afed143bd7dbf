//! RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s steps),
//! as authenticator apps make them: codes through `totp-rs`, the ±1 step
//! of tolerance and the replay rule (RFC 6238 § 5.2: only codes of a step
//! later than the last accepted one) here, and the secret's base32 and
//! `otpauth://` forms.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// Steps accepted on either side of the current one (clock drift, a code
/// typed as it changes).
const SKEW_STEPS: u64 = 1;
/// 160 bits, the size RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A fresh secret from the OS random source.
pub fn new_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut secret = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// The secret as authenticator apps take it: base32 (RFC 4648) without padding.
pub fn encode_secret(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// Everything but unreserved characters is percent-encoded in the label
/// and the issuer parameter.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
/// (the key URI format authenticator apps read from a QR code).
pub fn otpauth_url(issuer: &str, email: &str, secret: &[u8]) -> String {
    let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
    let email = utf8_percent_encode(email, COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{email}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        encode_secret(secret)
    )
}

/// The time step of a Unix time.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// Whether `code` looks like a TOTP code (six ASCII digits) rather than a
/// recovery code.
pub fn is_totp_code(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

fn generator(secret: &[u8], digits: usize) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, digits, 0, STEP_SECS, secret.to_vec()).ok()
}

/// The code of `step` (for tests and the RFC's vectors).
pub fn code_at(secret: &[u8], unix_secs: u64, digits: usize) -> Option<String> {
    generator(secret, digits).map(|totp| totp.generate(unix_secs))
}

/// The step `code` belongs to, within ±1 step of `now`, if it is later
/// than `last_accepted_step` (a code of that step or an earlier one was
/// already used or is older than one already used: a replay). `None` for
/// a wrong, stale or replayed code. Each candidate is compared in constant
/// time.
pub fn accepted_step(
    secret: &[u8],
    code: &str,
    now_unix_secs: u64,
    last_accepted_step: Option<u64>,
) -> Option<u64> {
    if !is_totp_code(code) {
        return None;
    }
    let totp = generator(secret, DIGITS)?;
    let current = step_of(now_unix_secs);
    let mut accepted = None;
    // Every candidate is computed and compared, whatever matched first.
    for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
        let candidate = totp.generate(step * STEP_SECS);
        let matches = constant_time_eq::constant_time_eq(candidate.as_bytes(), code.as_bytes());
        let later = last_accepted_step.is_none_or(|last| step > last);
        if matches && later && accepted.is_none() {
            accepted = Some(step);
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII of "1234567890" twice.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            assert_eq!(code_at(RFC_SEED, time, 8).unwrap(), expected, "T = {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_last_six_of_the_rfc_vectors() {
        assert_eq!(code_at(RFC_SEED, 59, 6).unwrap(), "287082");
        assert_eq!(code_at(RFC_SEED, 1_111_111_109, 6).unwrap(), "081804");
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_not_two() {
        let now = 1_700_000_000;
        for (offset, accepted) in [
            (-60i64, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let at = (now as i64 + offset) as u64;
            let code = code_at(RFC_SEED, at, 6).unwrap();
            assert_eq!(
                accepted_step(RFC_SEED, &code, now, None),
                accepted.then_some(step_of(at)),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_replayed_or_older_code_is_refused() {
        let now = 1_700_000_000;
        let code = code_at(RFC_SEED, now, 6).unwrap();
        let step = accepted_step(RFC_SEED, &code, now, None).unwrap();
        assert_eq!(accepted_step(RFC_SEED, &code, now, Some(step)), None);
        let previous = code_at(RFC_SEED, now - 30, 6).unwrap();
        assert_eq!(accepted_step(RFC_SEED, &previous, now, Some(step)), None);
        let next = code_at(RFC_SEED, now + 30, 6).unwrap();
        assert_eq!(
            accepted_step(RFC_SEED, &next, now, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn wrong_and_malformed_codes_are_refused() {
        let now = 1_700_000_000;
        let code = code_at(RFC_SEED, now, 6).unwrap();
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        for bad in [wrong.as_str(), "", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert_eq!(accepted_step(RFC_SEED, bad, now, None), None, "{bad:?}");
        }
        assert!(is_totp_code("012345"));
        assert!(!is_totp_code("abcd-efgh"));
    }

    #[test]
    fn secrets_are_160_random_bits_in_unpadded_base32() {
        let a = new_secret().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, new_secret().unwrap());
        let encoded = encode_secret(&a);
        assert_eq!(encoded.len(), 32);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(
            encode_secret(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn the_otpauth_url_percent_encodes_issuer_and_email() {
        let url = otpauth_url("My App & Co", "ada+1@example.com", b"12345678901234567890");
        assert_eq!(
            url,
            "otpauth://totp/My%20App%20%26%20Co:ada%2B1%40example.com?\
             secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20App%20%26%20Co\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
