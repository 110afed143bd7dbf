//! Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 of HMAC-SHA256("<id>.<timestamp>.<body>")>`
//! under the secret's decoded bytes (`whsec_<base64>`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where emails go (`email_webhook_url`) and the signing key
/// (`email_webhook_secret`, decoded).
#[derive(Clone, PartialEq)]
pub struct Hook {
    pub url: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Hook {
    /// `secret` is `whsec_<base64>` (the prefix may be left out); `Err`
    /// says what is wrong with it, never its value.
    pub fn new(url: &str, secret: &str) -> Result<Hook, String> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "expected whsec_ followed by base64".to_owned())?;
        if key.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Hook {
            url: url.to_owned(),
            key,
        })
    }

    /// The three headers of a delivery of `body`, sent now with a new id.
    pub fn signed_headers(&self, body: &[u8]) -> Vec<(String, String)> {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = crate::store::system_clock_us() / 1_000_000;
        self.headers_for(&id, timestamp, body)
    }

    pub fn headers_for(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            (
                "webhook-signature".into(),
                format!("v1,{}", self.signature(id, timestamp, body)),
            ),
        ]
    }

    fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let hook = Hook::new("http://x", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = hook.headers_for(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert!(headers.contains(&(
            "webhook-signature".into(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into()
        )));
        assert!(headers.contains(&("webhook-timestamp".into(), "1614265330".into())));
    }

    #[test]
    fn each_delivery_has_its_own_id_and_a_current_timestamp() {
        let hook = Hook::new("http://x", "whsec_c2VjcmV0").unwrap();
        let id = |h: &[(String, String)]| h.iter().find(|(n, _)| n == "webhook-id").cloned();
        let (a, b) = (hook.signed_headers(b"{}"), hook.signed_headers(b"{}"));
        assert_ne!(id(&a), id(&b));
        let ts: i64 = a
            .iter()
            .find(|(n, _)| n == "webhook-timestamp")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert!((ts - crate::store::system_clock_us() / 1_000_000).abs() < 5);
    }

    #[test]
    fn secrets_must_be_base64_and_never_show_in_debug() {
        assert!(Hook::new("http://x", "whsec_not base64!").is_err());
        assert!(Hook::new("http://x", "whsec_").is_err());
        let hook = Hook::new("http://x", "c2VjcmV0").unwrap();
        assert!(!format!("{hook:?}").contains("c2VjcmV0"));
    }
}
