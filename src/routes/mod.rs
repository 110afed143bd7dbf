//! One file per group of routes; each handler reads like its paragraph in
//! API.md. Handlers call the domain (`auth`) and the storage port (`store`);
//! they never build SQL.

pub mod auth;
pub mod health;
pub mod jwks;
pub mod openapi;
pub mod users;

use crate::config::Config;
use crate::http::Request;
use crate::store::Store;

/// What every handler gets.
pub struct Context<'a> {
    pub request: &'a Request,
    pub config: &'a Config<'a>,
    pub store: &'a dyn Store,
}
