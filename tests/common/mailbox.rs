//! A real HTTP receiver for the email hook, started by a test: it checks
//! each delivery's Standard Webhooks signature itself (HMAC-SHA256 of
//! `<id>.<timestamp>.<body>` under the secret's decoded bytes) and keeps
//! what arrived. It can also be told to answer `500` or to hang.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The test secret (`whsec_` + base64 of 32 bytes).
pub const SECRET: &str = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE=";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HookMode {
    Accept,
    Fail500,
    /// Accepts the connection, reads the request, never answers.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub signature_ok: bool,
}

pub struct MailReceiver {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    mode: Arc<Mutex<HookMode>>,
}

impl MailReceiver {
    pub fn start() -> MailReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mail receiver");
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(HookMode::Accept));
        let (kept, current) = (deliveries.clone(), mode.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (kept, current) = (kept.clone(), current.clone());
                std::thread::spawn(move || serve(stream, &kept, &current));
            }
        });
        MailReceiver {
            origin,
            deliveries,
            mode,
        }
    }

    /// The hook's URL (`email_webhook_url`).
    pub fn url(&self) -> String {
        format!("{}/hook", self.origin)
    }

    pub fn set_mode(&self, mode: HookMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The bodies of the emails of `kind` to `to`, oldest first.
    pub fn emails(&self, to: &str, kind: &str) -> Vec<Value> {
        self.deliveries()
            .into_iter()
            .map(|d| d.body)
            .filter(|b| b["to"] == to && b["type"] == kind)
            .collect()
    }

    /// Waits (at most 5 s) for the `n`-th email of `kind` to `to`.
    pub fn wait_for(&self, to: &str, kind: &str, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let emails = self.emails(to, kind);
            if emails.len() >= n {
                return emails[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no email #{n} of {kind} to {to}; got {:?}",
                self.deliveries()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The token of the latest email of `kind` to `to`.
    pub fn token(&self, to: &str, kind: &str) -> String {
        let n = self.emails(to, kind).len().max(1);
        self.wait_for(to, kind, n)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn serve(stream: TcpStream, kept: &Mutex<Vec<Delivery>>, mode: &Mutex<HookMode>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mode = *mode.lock().unwrap();
    let signature_ok = signature_matches(&headers, &body);
    kept.lock().unwrap().push(Delivery {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
        signature_ok,
    });
    let mut stream = stream;
    match mode {
        HookMode::Accept => {
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
        HookMode::Fail500 => {
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!",
            );
        }
        HookMode::Hang => std::thread::sleep(Duration::from_secs(30)),
    }
}

/// Standard Webhooks, checked independently of the service's code.
fn signature_matches(headers: &HashMap<String, String>, body: &[u8]) -> bool {
    let (Some(id), Some(timestamp), Some(signatures)) = (
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}
