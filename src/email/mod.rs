//! Email, handed over as Standard Webhooks: the service sends no mail
//! itself. `message` writes the emails (subject, text, html) and the hook's
//! JSON body, `webhook` signs a delivery, and [`deliver`] posts it through a
//! [`Transport`] (Spin's outbound HTTP in the component, a recorder in
//! tests). A hook that fails is logged with its status and never fails the
//! caller's answer; no token ever reaches a log line.

pub mod message;
pub mod webhook;

use crate::log;
pub use message::{Email, EmailKind, EmailToken};
pub use webhook::Hook;

/// What a hook answered, as far as the service looks at it (its body is
/// never read).
#[derive(Debug, Clone, PartialEq)]
pub enum HookAnswer {
    Status(u16),
    /// Not reachable, denied by `allowed_outbound_hosts`, or no answer in
    /// time; the reason names no token.
    Failed(String),
}

/// Sends one HTTP POST: the component's outbound HTTP.
pub trait Transport {
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> HookAnswer;
}

/// Signs `email` for `hook` and posts it; logs the outcome.
pub fn deliver(transport: &dyn Transport, hook: &Hook, email: &Email) {
    let body = email.webhook_body().to_string().into_bytes();
    let headers = hook.signed_headers(&body);
    let kind = email.kind.as_str();
    let user_id = &email.user.id;
    match transport.post(&hook.url, &headers, &body) {
        HookAnswer::Status(status) if (200..300).contains(&status) => log::info(&format!(
            "email handed over: type={kind} user_id={user_id} status={status}"
        )),
        HookAnswer::Status(status) => log::warn(&format!(
            "email hook failed: type={kind} user_id={user_id} status={status}"
        )),
        HookAnswer::Failed(reason) => log::warn(&format!(
            "email hook failed: type={kind} user_id={user_id} error={reason}"
        )),
    }
}

/// The hook the service is configured with, if any, and the way to reach
/// it: what the account use-cases send through.
pub struct Mailer<'a> {
    pub transport: &'a dyn Transport,
    /// `None`: `email_webhook_url` is empty, nothing is sent.
    pub hook: Option<Hook>,
}

impl Mailer<'_> {
    pub fn can_send(&self) -> bool {
        self.hook.is_some()
    }

    pub fn send(&self, email: &Email) {
        match &self.hook {
            Some(hook) => deliver(self.transport, hook, email),
            None => log::info(&format!(
                "email not sent (email_webhook_url is empty): type={} user_id={}",
                email.kind.as_str(),
                email.user.id
            )),
        }
    }
}

/// A transport that reaches nothing (unit tests of routes that send none).
pub struct NoTransport;

impl Transport for NoTransport {
    fn post(&self, _: &str, _: &[(String, String)], _: &[u8]) -> HookAnswer {
        HookAnswer::Failed("no outbound HTTP here".into())
    }
}
