//! Log lines on stderr (Spin collects a component's stderr). One line per
//! event, `key=value` style; never a token, key, hash or password.

pub fn info(message: &str) {
    eprintln!("INFO spin-auth: {message}");
}

pub fn error(message: &str) {
    eprintln!("ERROR spin-auth: {message}");
}

pub fn warn(message: &str) {
    eprintln!("WARN spin-auth: {message}");
}

/// Security events (refresh token reuse, lockouts) get their own tag so that
/// they can be alerted on.
pub fn security(message: &str) {
    eprintln!("SECURITY spin-auth: {message}");
}
