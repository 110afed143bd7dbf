//! Password hashing: argon2id with the OWASP parameters, PHC strings.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's argon2id recommendation: m = 19456 KiB, t = 2, p = 1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// A hash of a password nobody knows, at the current parameters. A login for
/// an unknown email is verified against it so that it costs the same time as
/// a wrong password for a known one (no user enumeration by timing).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$/CEofssVAfvbLvwAHFPH9Q$PyAxWFhOUhoo4H/R+JIIOvxcEIKpXP32GFJl7x4u5/8";

fn hasher() -> Argon2<'static> {
    // The parameters are constants within argon2's limits; `Params::new`
    // only fails for out-of-range values.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let phc = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC string (any argon2 variant and
/// parameters; a malformed hash never matches).
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification against a hash nobody can match.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, DUMMY_HASH);
}

/// Whether a stored hash uses weaker settings than today's and should be
/// replaced after the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() < MEMORY_KIB
                || params.t_cost() < ITERATIONS
                || params.p_cost() < PARALLELISM
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapl", &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(
            hash("same password").unwrap(),
            hash("same password").unwrap()
        );
    }

    #[test]
    fn weaker_hashes_still_verify_but_need_rehash() {
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$5AZDI5pk90dMH1hfVTq4iQ$CjSjfwkUO7UwsN1YvYllaBjs0JEs/3aZS11Diw7FlnE";
        assert!(verify("weakpassword1", weak));
        assert!(needs_rehash(weak));
        assert!(needs_rehash("not a phc string"));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn dummy_hash_is_current_and_matches_nothing_common() {
        assert!(!needs_rehash(DUMMY_HASH));
        assert!(!verify("password", DUMMY_HASH));
    }
}
