//! spin-auth: the FastAPI JWT-auth tutorial's service as a Spin component,
//! with rotating refresh tokens, revocation, JWKS and login throttling.
//!
//! Layout: `http` (routing, bodies, cookies, credentials, CORS, the error
//! map), `routes` (handlers), `auth` (the domain: keys, tokens, passwords,
//! validation, and the login, refresh and session use-cases over the
//! store), `store` (the storage port, its SQL by operation for PostgreSQL
//! and SQLite side by side, the versioned schema, and the database
//! drivers), `config` (Spin variables -> settings), `error` (the one error
//! type). Only `spin` and the Spin drivers in `store::db` touch spin-sdk;
//! everything else is plain Rust and is unit tested natively. The
//! workspace lints deny unwrap, expect and panic outside tests.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod config;
pub mod email;
pub mod error;
pub mod http;
pub mod json;
pub mod log;
pub mod routes;
pub mod store;

#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
mod spin;
#[cfg(all(target_arch = "wasm32", feature = "spin-component"))]
mod spin_outbound;
