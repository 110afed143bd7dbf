#!/usr/bin/env bash
# `make bench-micro`: the crypto operations the routes pay for, timed by the
# same code (examples/crypto_bench.rs) natively and inside wasm on the
# runner's engine, so that the wasm/native ratio is measured, not guessed.
# Writes bench/results/micro.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/results/micro.json

echo "==> building the benchmark natively and for wasm32-wasip2"
cargo build -q --profile native --example crypto_bench
# Its own target dir: without the default feature the library's cdylib
# would otherwise overwrite the component (spin_auth.wasm) that spin.toml serves.
cargo build -q --target wasm32-wasip2 --release --no-default-features --example crypto_bench \
    --target-dir target/bench-wasm

echo "==> native"
native=$(target/native/examples/crypto_bench .dev-keys)
echo "==> inside wasm (spin-auth-runner run-wasm)"
wasm=$(target/native/spin-auth-runner run-wasm target/bench-wasm/wasm32-wasip2/release/examples/crypto_bench.wasm .dev-keys)

python3 - "$OUT" "$native" "$wasm" <<'PY'
import json, os, sys
out, native, wasm = sys.argv[1], sys.argv[2], sys.argv[3]
parse = lambda text: {r["op"]: r["median_us"] for r in map(json.loads, text.strip().splitlines())}
n, w = parse(native), parse(wasm)
rows = [{"op": op, "native_us": n[op], "wasm_us": w[op], "ratio": round(w[op] / n[op], 2)} for op in n]
json.dump({"cores": os.cpu_count(), "rows": rows}, open(out, "w"), indent=2)
print(f"\n| {'operation':<20} | {'native µs':>10} | {'wasm µs':>10} | {'wasm/native':>11} |")
print(f"|{'-'*22}|{'-'*12}|{'-'*12}|{'-'*13}|")
for r in rows:
    print(f"| {r['op']:<20} | {r['native_us']:>10.1f} | {r['wasm_us']:>10.1f} | {r['ratio']:>10.2f}x |")
print(f"\nwritten to {out}")
PY
