//! One keep-alive connection, many requests in a row: each answer must
//! arrive in one piece. A response whose headers and body leave as two TCP
//! writes waits for the client's delayed ACK (about 40 ms on Linux) under
//! Nagle's algorithm, which Spin's trigger (and so the runner) leaves on.
//! This is a regression test for that stall, not a benchmark: a stalled
//! answer takes at least 40 ms (Linux's minimum delayed ACK), so the bound
//! is well below that and far above a normal answer (about 1 ms), with
//! room for a loaded CI machine (a p99 of 11.5 ms was seen on one under a
//! 10 ms bound).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const REQUESTS: usize = 200;
const P99_LIMIT: Duration = Duration::from_millis(25);

/// A client that keeps one connection open and reads each answer to its
/// end (by `content-length`, or chunk by chunk), as curl or a browser does.
struct KeepAlive {
    reader: BufReader<TcpStream>,
    host: String,
}

impl KeepAlive {
    fn connect(base: &str) -> KeepAlive {
        let host = base.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        KeepAlive {
            reader: BufReader::new(stream),
            host,
        }
    }

    /// Sends one GET and returns its status once the whole body arrived.
    fn get(&mut self, path: &str, extra_headers: &str) -> u16 {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n{extra_headers}\r\n",
            self.host
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().unwrap());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                assert!(!value.eq_ignore_ascii_case("close"), "connection closed");
            }
        }
        if chunked {
            self.read_chunks();
        } else {
            self.skip(length.unwrap_or(0));
        }
        status
    }

    fn read_chunks(&mut self) {
        loop {
            let size = usize::from_str_radix(self.line().split(';').next().unwrap(), 16).unwrap();
            self.skip(size);
            assert_eq!(self.line(), "", "chunk terminator");
            if size == 0 {
                return;
            }
        }
    }

    fn skip(&mut self, bytes: usize) {
        let mut body = vec![0; bytes];
        self.reader.read_exact(&mut body).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_owned()
    }
}

/// The 99th percentile of `REQUESTS` sequential GETs on one connection.
fn p99_on_one_connection(service: &Service, path: &str, headers: &str, status: u16) -> Duration {
    let mut client = KeepAlive::connect(&service.base);
    let mut times: Vec<Duration> = (0..REQUESTS)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(client.get(path, headers), status, "{path}");
            started.elapsed()
        })
        .collect();
    times.sort();
    times[REQUESTS * 99 / 100 - 1]
}

#[test]
fn answers_on_one_keep_alive_connection_never_wait_for_a_delayed_ack() {
    let service = Service::start();
    let (_, body, _) = register_and_login(&service, &service.plain());
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        body["access_token"].as_str().unwrap()
    );
    // One route after another (not in parallel): the two cores stay free
    // for the service, so only a stall can push p99 past the bound.
    let routes = [
        ("/api/healthchecker", "", 200),
        ("/.well-known/jwks.json", "", 200),
        ("/api/users/me", bearer.as_str(), 200),
        ("/api/nope", "", 404),
    ];
    let slow: Vec<String> = routes
        .iter()
        .map(|&(path, headers, status)| {
            // The better of two runs: a stall shows in both, a moment of
            // load on a shared machine in one at most.
            let p99 = (0..2)
                .map(|_| p99_on_one_connection(&service, path, headers, status))
                .min()
                .unwrap();
            (path, p99)
        })
        .filter(|(_, p99)| *p99 > P99_LIMIT)
        .map(|(path, p99)| format!("{path}: p99 {p99:?}"))
        .collect();
    assert!(slow.is_empty(), "over {P99_LIMIT:?}: {slow:?}");
}
