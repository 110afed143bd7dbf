//! Crypto micro-benchmark: the operations the routes pay for (RS256 sign,
//! verify and key parsing, EdDSA sign and verify, argon2id hash and verify),
//! timed with the same code natively and inside wasm, so the wasm/native
//! ratio is a measured figure. `bench/micro.sh` runs both and compares.
//!
//!   cargo run --profile native --example crypto_bench -- .dev-keys
//!   cargo build --target wasm32-wasip2 --release --no-default-features --example crypto_bench \
//!       --target-dir target/bench-wasm
//!   target/native/spin-auth-runner run-wasm \
//!       target/bench-wasm/wasm32-wasip2/release/examples/crypto_bench.wasm .dev-keys

use std::time::{Duration, Instant};

use spin_auth::auth::keys::{Algorithm, SigningKey, VerifyingKey};
use spin_auth::auth::passwords;
use spin_auth::auth::tokens::{issue_access_token, verify_access_token, AccessIdentity, Audience};

/// Runs `op` until `budget` is spent (at least `min_runs` times) and
/// returns the median duration of one run.
fn median(budget: Duration, min_runs: usize, mut op: impl FnMut()) -> Duration {
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < min_runs || started.elapsed() < budget {
        let one = Instant::now();
        op();
        samples.push(one.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn report(name: &str, duration: Duration) {
    println!(
        "{{\"op\": \"{name}\", \"median_us\": {:.1}}}",
        duration.as_secs_f64() * 1e6
    );
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".dev-keys".into());
    let private_pem = std::fs::read_to_string(format!("{dir}/private.pem"))?;
    let public_pem = std::fs::read_to_string(format!("{dir}/public.pem"))?;
    let budget = Duration::from_secs(2);
    let identity = AccessIdentity {
        user_id: "8a4c1e3e-1111-4d6a-9a55-000000000001".into(),
        session_id: "0f6a7c1e-2222-4d6a-9a55-000000000002".into(),
    };
    let audience = Audience::default();
    let config_error = |e: String| anyhow::anyhow!(e);

    report(
        "rs256_parse_private",
        median(budget, 5, || {
            let _ = SigningKey::from_config(Algorithm::RS256, &private_pem);
        }),
    );
    report(
        "rs256_parse_public",
        median(budget, 5, || {
            let _ = VerifyingKey::from_config(Algorithm::RS256, &public_pem);
        }),
    );
    let rsa = SigningKey::from_config(Algorithm::RS256, &private_pem).map_err(config_error)?;
    let ed = jwt_simple::prelude::Ed25519KeyPair::generate();
    let ed = SigningKey::from_config(Algorithm::EdDSA, &ed.to_pem()).map_err(config_error)?;
    for (name, algorithm, signer) in [
        ("rs256", Algorithm::RS256, &rsa),
        ("eddsa", Algorithm::EdDSA, &ed),
    ] {
        let keys = [signer.public_key()];
        let token = issue_access_token(signer, &identity, 900, &audience)?;
        let sign = median(budget, 5, || {
            let _ = issue_access_token(signer, &identity, 900, &audience);
        });
        report(&format!("{name}_sign"), sign);
        let verify = median(budget, 5, || {
            let _ = verify_access_token(&token, algorithm, &keys, &audience);
        });
        report(&format!("{name}_verify"), verify);
    }

    let phc = passwords::hash("correct horse battery staple")?;
    report(
        "argon2id_hash",
        median(budget, 5, || {
            let _ = passwords::hash("correct horse battery staple");
        }),
    );
    report(
        "argon2id_verify",
        median(budget, 5, || {
            let _ = passwords::verify("correct horse battery staple", &phc);
        }),
    );
    Ok(())
}
