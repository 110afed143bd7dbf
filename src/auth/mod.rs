//! The pure domain: keys, tokens, passwords, refresh tokens and request
//! validation. Nothing here knows about Spin or the database.

pub mod keys;
pub mod passwords;
pub mod refresh;
mod rs256;
pub mod tokens;
pub mod validation;
