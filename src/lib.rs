//! spin-auth: the FastAPI JWT-auth tutorial's service as a Spin component,
//! with rotating refresh tokens, revocation, JWKS and login throttling.
//!
//! Layout: `http` (routing, bodies, cookies, CORS), `routes` (handlers),
//! `auth` (pure domain: keys, tokens, passwords, validation), `store` (the
//! storage port and its PostgreSQL backend), `config` (Spin variables ->
//! settings), `error` (the one error type). Only `spin` and
//! `store::postgres` touch spin-sdk; everything else is plain Rust and is
//! unit tested natively.
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
