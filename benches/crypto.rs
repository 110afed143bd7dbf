//! Crypto micro-benchmarks (criterion): the operations the routes pay for
//! (RS256, EdDSA and ES256 key parsing, signing and verifying; argon2id
//! hashing and verifying), run by the same code natively and inside wasm on
//! the runner's engine, so the wasm/native ratio is a measured figure.
//! `bench/micro.sh` (`make bench-micro`) runs both and compares:
//!
//!   cargo bench --profile native --bench crypto
//!   cargo build --target wasm32-wasip2 --release --no-default-features --bench crypto \
//!       --target-dir target/bench-wasm
//!   spin-auth-runner run-wasm --env CRITERION_HOME=target/criterion-wasm <crypto-*.wasm> --bench
//!
//! The RS256 keys are the development keys in `.dev-keys/` (`make dev-keys`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};
use spin_auth::auth::keys::{Algorithm, SigningKey, VerifyingKey};
use spin_auth::auth::passwords;
use spin_auth::auth::tokens::{
    issue_access_token, verify_access_token, AccessIdentity, Amr, Audience,
};

const PASSWORD: &str = "correct horse battery staple";

fn identity() -> AccessIdentity {
    AccessIdentity {
        user_id: "8a4c1e3e-1111-4d6a-9a55-000000000001".into(),
        session_id: "0f6a7c1e-2222-4d6a-9a55-000000000002".into(),
        amr: Amr::Password,
    }
}

fn read_key(file: &str) -> String {
    let path = format!(".dev-keys/{file}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `make dev-keys` from the repository root)"))
}

/// The PEM pair of each algorithm: the development RSA keys, fresh EdDSA
/// and ES256 ones.
fn key_pairs() -> Vec<(&'static str, Algorithm, String, String)> {
    let ed = Ed25519KeyPair::generate();
    let es = ES256KeyPair::generate();
    vec![
        (
            "rs256",
            Algorithm::RS256,
            read_key("private.pem"),
            read_key("public.pem"),
        ),
        (
            "eddsa",
            Algorithm::EdDSA,
            ed.to_pem(),
            ed.public_key().to_pem(),
        ),
        (
            "es256",
            Algorithm::ES256,
            es.to_pem().expect("ES256 PEM"),
            es.public_key().to_pem().expect("ES256 PEM"),
        ),
    ]
}

fn tokens(c: &mut Criterion) {
    let identity = identity();
    let audience = Audience::default();
    for (name, algorithm, private_pem, public_pem) in key_pairs() {
        let mut group = c.benchmark_group(name);
        group.bench_function("parse_private", |b| {
            b.iter(|| SigningKey::from_config(algorithm, &private_pem).expect("private key"))
        });
        group.bench_function("parse_public", |b| {
            b.iter(|| VerifyingKey::from_config(algorithm, &public_pem).expect("public key"))
        });
        let signer = SigningKey::from_config(algorithm, &private_pem).expect("private key");
        let keys = [signer.public_key()];
        let token = issue_access_token(&signer, &identity, 900, &audience).expect("token");
        group.bench_function("sign", |b| {
            b.iter(|| issue_access_token(&signer, &identity, 900, &audience).expect("token"))
        });
        group.bench_function("verify", |b| {
            b.iter(|| verify_access_token(&token, algorithm, &keys, &audience).expect("valid"))
        });
        group.finish();
    }
}

fn argon2(c: &mut Criterion) {
    let phc = passwords::hash(PASSWORD).expect("hash");
    let mut group = c.benchmark_group("argon2id");
    // 15 to 40 ms an operation: fewer, longer samples.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("hash", |b| {
        b.iter(|| passwords::hash(PASSWORD).expect("hash"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| assert!(passwords::verify(PASSWORD, &phc)))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = tokens, argon2
}
criterion_main!(benches);
