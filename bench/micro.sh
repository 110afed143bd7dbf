#!/usr/bin/env bash
# `make bench-micro`: the crypto operations the routes pay for, measured by
# criterion (benches/crypto.rs) natively and inside wasm on the runner's
# engine (`spin-auth-runner run-wasm`), so that the wasm/native ratio is
# measured, not guessed. Prints the table and writes bench/results/micro.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/results/micro.json
# Inside the repository, not under `target` (a symlink on CI machines): the
# wasm sandbox only writes inside the directory it was given.
NATIVE_HOME=.criterion/native
WASM_HOME=.criterion/wasm
LOG=.criterion/run.log
RUNNER=target/native/spin-auth-runner

echo "==> building the benchmark for wasm32-wasip2"
# Its own target dir: without the default feature the library's cdylib
# would otherwise overwrite the component (spin_auth.wasm) that spin.toml serves.
wasm=$(cargo build --target wasm32-wasip2 --release --no-default-features --bench crypto \
    --target-dir target/bench-wasm --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "crypto" and m.get("executable"):
        print(m["executable"])')
[ -n "$wasm" ] || { echo "building the wasm benchmark failed" >&2; exit 1; }

rm -rf .criterion && mkdir -p .criterion
# run LABEL COMMAND...: criterion's summary lines; its whole output on failure.
run() {
    echo "==> $1"
    shift
    if ! "$@" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        exit 1
    fi
    grep -E 'time:' "$LOG"
}
run "native (criterion)" env CRITERION_HOME=$NATIVE_HOME cargo bench -q --profile native --bench crypto
run "inside wasm (criterion on spin-auth-runner run-wasm)" \
    "$RUNNER" run-wasm --env CRITERION_HOME=$WASM_HOME "$wasm" --bench

python3 - "$OUT" "$NATIVE_HOME" "$WASM_HOME" <<'PY'
import json, os, sys
out, native_home, wasm_home = sys.argv[1:4]

def medians(home):
    """criterion's median estimate (µs) of each group/benchmark."""
    found = {}
    for group in sorted(os.listdir(home)):
        for bench in sorted(os.listdir(os.path.join(home, group))):
            path = os.path.join(home, group, bench, "new", "estimates.json")
            if os.path.exists(path):
                found[f"{group}/{bench}"] = json.load(open(path))["median"]["point_estimate"] / 1000
    return found

n, w = medians(native_home), medians(wasm_home)
rows = [{"op": op, "native_us": round(n[op], 1), "wasm_us": round(w[op], 1), "ratio": round(w[op] / n[op], 2)}
        for op in n if op in w]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"cores": os.cpu_count(), "cpu": cpu, "tool": "criterion (median)", "rows": rows}, open(out, "w"), indent=2)
print(f"\n{os.cpu_count()} cores, {cpu}; criterion medians\n")
print(f"| {'operation':<22} | {'native µs':>10} | {'wasm µs':>10} | {'wasm/native':>11} |")
print(f"|{'-'*24}|{'-'*12}|{'-'*12}|{'-'*13}|")
for r in rows:
    print(f"| {r['op']:<22} | {r['native_us']:>10.1f} | {r['wasm_us']:>10.1f} | {r['ratio']:>10.2f}x |")
print(f"\nwritten to {out}")
PY
