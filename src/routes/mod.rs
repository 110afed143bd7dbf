//! One file per group of routes; each handler reads like its paragraph in
//! API.md: it parses the request, calls one use-case in `auth`, and maps
//! the outcome to a response or an `ApiError`. Handlers never build SQL.
//! `caller` (who is calling), `signer` (answers that carry tokens) and
//! `json` (shared response shapes) serve the handlers.

pub mod auth;
mod caller;
pub mod devices;
pub mod health;
mod json;
pub mod jwks;
pub mod openapi;
mod signer;
pub mod users;

use crate::config::Config;
use crate::http::Request;
use crate::store::Store;

/// What every handler gets.
pub struct Context<'a> {
    pub request: &'a Request,
    pub config: &'a Config<'a>,
    pub store: &'a dyn Store,
    /// The `{id}` segment of a route such as `/api/users/me/sessions/{id}`.
    pub path_param: Option<&'a str>,
}
