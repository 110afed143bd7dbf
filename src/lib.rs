//! spin-auth: the FastAPI JWT-auth tutorial's service as a Spin component,
//! with rotating refresh tokens, revocation, JWKS and login throttling.
//!
//! Layout: `http` (routing, bodies, cookies, credentials, CORS, the error
//! map), `routes` (handlers), `auth` (the domain: keys, tokens, passwords,
//! validation, and the login, refresh and session use-cases over the
//! store), `store` (the storage port and its PostgreSQL and SQLite
//! backends), `config` (Spin variables -> settings), `error` (the one
//! error type). Only `spin`, `store::postgres` and `store::spin_sqlite`
//! touch spin-sdk; everything else is plain Rust and is unit tested
//! natively.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod log;
pub mod routes;
pub mod store;

#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
mod spin;
