//! One file per group of routes; each handler reads like its paragraph in
//! API.md: it parses the request, calls one use-case in `auth`, and maps
//! the outcome to a response or an `ApiError`. Handlers never build SQL.
//! `caller` (who is calling) and `signer` (answers that carry tokens)
//! serve the handlers; the shared JSON shapes are in `crate::json`.

pub mod accounts;
pub mod admin;
pub mod auth;
mod caller;
pub mod devices;
pub mod health;
pub mod jwks;
pub mod mfa;
pub mod openapi;
mod query;
mod signer;
pub mod users;

use crate::config::Config;
use crate::email::Transport;
use crate::http::{Request, Response};
use crate::store::Store;

/// What every handler gets.
pub struct Context<'a> {
    pub request: &'a Request,
    pub config: &'a Config<'a>,
    pub store: &'a dyn Store,
    /// The `{id}` segment of a route such as `/api/users/me/sessions/{id}`.
    pub path_param: Option<&'a str>,
    /// Outbound HTTP, for the email hook.
    pub transport: &'a dyn Transport,
}

/// `200 {"status": "success"}`, the answer of every route that only acts.
pub(super) fn success() -> Response {
    Response::json(200, &serde_json::json!({"status": "success"}))
}
