//! The domain, plain Rust: keys, tokens, passwords, refresh tokens, request
//! validation, and the use-cases (`login`, `rotation`, `session`) as
//! functions over the [`Store`](crate::store::Store) trait. Nothing here
//! knows about Spin or which database is behind the store, and the
//! use-cases answer with outcomes, never with responses.

pub mod accounts;
pub mod admin;
#[cfg(test)]
mod fake_store;
pub mod keys;
pub mod login;
pub mod mfa;
pub mod passwords;
pub mod refresh;
pub mod rotation;
mod rs256;
pub mod secret_box;
pub mod session;
pub mod tokens;
pub mod totp;
pub mod validation;
