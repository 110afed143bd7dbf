#!/usr/bin/env bash
# `make bench`: the HTTP load benchmark. For each backend in BENCH_BACKENDS
# (default: "postgres sqlite") starts the runner (strict off, as in
# production) against a scratch database and measures each route with wrk
# for BENCH_SECONDS (default 10) at 16 connections; routes that touch no
# database (health, JWKS) are measured once, with the first backend. Then
# the one-connection rows: health, JWKS, /me and a 404, each on a single
# keep-alive connection (wrk -t1 -c1), the latency a lone browser or curl
# sees (a response that leaves in two TCP writes stalls ~40 ms there). Prints
# one table and writes it, with the machine's description, to
# bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_ROUTE=${BENCH_SECONDS:-10}
CONNECTIONS=16
PORT=${BENCH_PORT:-18999}
BASE="http://127.0.0.1:$PORT"
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
DB=spin_auth_bench
PG_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
STATE_DIR=$(mktemp -d /tmp/spin-auth-bench.XXXXXX)
RUNNER=target/native/spin-auth-runner
PASSWORD=password123
OUT=bench/results/latest.json

command -v wrk >/dev/null || { echo "==> installing wrk"; apt-get install -y -qq wrk >/dev/null; }

# Without a PostgreSQL server (the zero-setup case) only SQLite is measured.
if [[ " $BACKENDS " == *" postgres "* ]] &&
    ! { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }; then
    echo "==> no PostgreSQL on 127.0.0.1:5432: measuring SQLite only"
    BACKENDS=$(echo " $BACKENDS " | sed 's/ postgres / /; s/^ *//; s/ *$//')
    [ -n "$BACKENDS" ] || { echo "no backend left to measure" >&2; exit 1; }
fi

RUNNER_PID=""
stop_runner() {
    if [ -n "$RUNNER_PID" ]; then
        kill "$RUNNER_PID" 2>/dev/null || true
        wait "$RUNNER_PID" 2>/dev/null || true
        RUNNER_PID=""
    fi
}
MAILBOX_PID=""
cleanup() {
    stop_runner
    [ -z "$MAILBOX_PID" ] || kill "$MAILBOX_PID" 2>/dev/null || true
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$STATE_DIR" "$STATE_DIR-ed25519"
}
trap cleanup EXIT

# start_backend postgres|sqlite [RS256|EdDSA]: a scratch database,
# migrated, and the runner serving it with the development RS256 keys (or
# a fresh Ed25519 pair); then a user, its access cookie and one refresh
# token per connection.
start_backend() {
    local backend=$1 algorithm=${2:-RS256} url keys=.dev-keys
    if [ "$algorithm" = EdDSA ]; then
        keys=$STATE_DIR-ed25519
        mkdir -p "$keys"
        openssl genpkey -algorithm ed25519 -out "$keys/private.pem"
        openssl pkey -in "$keys/private.pem" -pubout -out "$keys/public.pem"
    fi
    if [ "$backend" = postgres ]; then
        url=$PG_URL
        echo "==> scratch PostgreSQL database $DB"
        psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    else
        url=sqlite:default
        echo "==> scratch SQLite database in $STATE_DIR"
        rm -rf "${STATE_DIR:?}"/*
    fi
    "$RUNNER" migrate --create-database --database-url "$url" --state-dir "$STATE_DIR" >/dev/null

    echo "==> starting the runner on $BASE ($backend, $algorithm)"
    SPIN_VARIABLE_DATABASE_URL="$url" \
    SPIN_VARIABLE_JWT_ALGORITHM="$algorithm" \
    SPIN_VARIABLE_JWT_PRIVATE_KEY="$(cat "$keys/private.pem")" \
    SPIN_VARIABLE_JWT_PUBLIC_KEY="$(cat "$keys/public.pem")" \
    SPIN_VARIABLE_COOKIE_SECURE=false \
    SPIN_VARIABLE_LOGIN_MAX_FAILURES=1000000 \
    "$RUNNER" up --listen "127.0.0.1:$PORT" --runtime-config-file runtime-config.toml \
        --state-dir "$STATE_DIR" >/tmp/spin-auth-bench.out 2>/tmp/spin-auth-bench.err &
    RUNNER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$BASE/api/healthchecker" >/dev/null && break
        sleep 0.1
    done

    curl -sf -H 'Content-Type: application/json' \
        -d "{\"name\":\"Bench\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"passwordConfirm\":\"$PASSWORD\"}" \
        "$BASE/api/auth/register" >/dev/null
    ACCESS_COOKIE=$(login_cookies | sed -n 's/^set-cookie: \(access_token=[^;]*\).*/\1/Ip')
    TOKENS=""
    for _ in $(seq 1 $CONNECTIONS); do
        TOKENS="$TOKENS,$(login_cookies | sed -n 's/^set-cookie: refresh_token=\([^;]*\).*/\1/Ip')"
    done
}

EMAIL="bench-user@example.com"
login_cookies() {
    curl -s -o /dev/null -D - -H 'Content-Type: application/json' \
        -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$BASE/api/auth/login" | tr -d '\r' | { grep -i '^set-cookie:' || true; }
}

# promote_bench_user postgres|sqlite: the bench user becomes an admin (in
# the database: the service grants the role only at a proven mailbox).
promote_bench_user() {
    local statement="UPDATE users SET role = 'admin' WHERE email = '$EMAIL'"
    if [ "$1" = postgres ]; then
        psql -q -h 127.0.0.1 -U postgres -d "$DB" -c "$statement" >/dev/null
    else
        python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' \
            "$STATE_DIR/sqlite_db.db" "$statement"
    fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU: every postgres process (backends come and go, so this
# counts the live ones; the pool keeps the runner's connections alive).
db_ticks() {
    local total=0 pid
    for pid in $(pgrep -x postgres); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
TICKS_PER_SECOND=$(getconf CLK_TCK)
RESULTS=()

# run NAME PATH SCRIPT THREADS [ENV...] (of the backend in $BACKEND), at
# $CONNS connections (default $CONNECTIONS). A NAME ending in "(404)"
# expects 404s: they are not errors there.
run() {
    local name=$1 path=$2 script=$3 threads=$4 conns=${CONNS:-$CONNECTIONS}
    shift 4
    echo "==> $name ($BACKEND): $SECONDS_PER_ROUTE s at $conns connections"
    local before after db_before db_after output wrk_cpu log_before instantiate_ms
    log_before=$(wc -l < /tmp/spin-auth-bench.err)
    before=$(cpu_ticks "$RUNNER_PID")
    db_before=$(db_ticks)
    output=$(env "$@" /usr/bin/time -f 'WRK_CPU %U %S' wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_ROUTE}s" \
        --latency -s "bench/$script" "$BASE$path" 2>&1)
    after=$(cpu_ticks "$RUNNER_PID")
    db_after=$(db_ticks)
    # The runner logs each request's instantiation time: its mean here.
    instantiate_ms=$(tail -n +$((log_before + 1)) /tmp/spin-auth-bench.err |
        awk -F'instantiate_ms=' 'NF > 1 {sum += $2; n++} END {printf "%.4f", n ? sum / n : 0}')
    local json runner_cpu db_cpu
    json=$(echo "$output" | sed -n 's/^BENCH_JSON //p')
    wrk_cpu=$(echo "$output" | awk '/^WRK_CPU/ {print $2 + $3}')
    runner_cpu=$(awk -v t=$((after - before)) -v hz="$TICKS_PER_SECOND" 'BEGIN {print t / hz}')
    # postgres processes that exit during the run take their ticks with them.
    db_cpu=$(awk -v t=$((db_after - db_before)) -v hz="$TICKS_PER_SECOND" 'BEGIN {print (t > 0 ? t : 0) / hz}')
    RESULTS+=("$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); r["route"] = sys.argv[2]; r["backend"] = sys.argv[6]
r["runner_cpu_s"] = float(sys.argv[3]); r["wrk_cpu_s"] = float(sys.argv[4]); r["db_cpu_s"] = float(sys.argv[5])
r["runner_cpu_ms_per_request"] = round(1000 * r["runner_cpu_s"] / max(r["requests"], 1), 3)
r["db_cpu_ms_per_request"] = round(1000 * r["db_cpu_s"] / max(r["requests"], 1), 3)
r["instantiate_ms"] = float(sys.argv[7]); r["connections"] = int(sys.argv[8])
if r["route"].endswith("(404)"): r["errors"] -= r["status_errors"]
print(json.dumps(r))' "$json" "$name" "$runner_cpu" "$wrk_cpu" "$db_cpu" "$BACKEND" "$instantiate_ms" "$conns")")
}

FIRST=1
for BACKEND in $BACKENDS; do
    start_backend "$BACKEND"
    if [ "$FIRST" = 1 ]; then
        run "GET /api/healthchecker" /api/healthchecker get.lua 2
        run "GET /.well-known/jwks.json" /.well-known/jwks.json get.lua 2
        FIRST=0
    fi
    run "GET /api/users/me" /api/users/me get.lua 2 BENCH_COOKIE="$ACCESS_COOKIE"
    run "POST /api/auth/refresh" /api/auth/refresh refresh.lua $CONNECTIONS BENCH_TOKENS="${TOKENS#,}"
    run "POST /api/auth/login" /api/auth/login login.lua 2 BENCH_EMAIL="$EMAIL" BENCH_PASSWORD="$PASSWORD"
    run "POST /api/auth/register" /api/auth/register register.lua 2
    # The admin listing's first page (50 users of the hundreds the register
    # row created), as the bench user made admin.
    promote_bench_user "$BACKEND"
    ADMIN_COOKIE=$(login_cookies | sed -n 's/^set-cookie: \(access_token=[^;]*\).*/\1/Ip')
    run "GET /api/admin/users" "/api/admin/users?limit=50" get.lua 2 BENCH_COOKIE="$ADMIN_COOKIE"
    if [ "$FIRST" = 0 ]; then
        # One keep-alive connection, one request at a time.
        CONNS=1 run "GET /api/healthchecker" /api/healthchecker get.lua 1
        CONNS=1 run "GET /.well-known/jwks.json" /.well-known/jwks.json get.lua 1
        CONNS=1 run "GET /api/users/me" /api/users/me get.lua 1 BENCH_COOKIE="$ACCESS_COOKIE"
        CONNS=1 run "GET /api/nope (404)" /api/nope get.lua 1
        FIRST=done
    fi
    stop_runner
done

# The same token routes signed with EdDSA (jwt_algorithm = EdDSA), on the
# first backend.
BACKEND="${BACKENDS%% *}+EdDSA"
start_backend "${BACKENDS%% *}" EdDSA
run "GET /api/users/me" /api/users/me get.lua 2 BENCH_COOKIE="$ACCESS_COOKIE"
run "POST /api/auth/refresh" /api/auth/refresh refresh.lua $CONNECTIONS BENCH_TOKENS="${TOKENS#,}"
stop_runner

# Register with require_email_verification = true: each registration also
# hands a verification email to the hook (the development mailbox, which
# checks every signature), on the first backend. (Its bench user cannot log
# in unverified: no cookies, which this row does not need.)
BENCH_HOOK=127.0.0.1:$((PORT + 1))
BENCH_SECRET="whsec_$(openssl rand -base64 32)"
MAILBOX_WEBHOOK_SECRET="$BENCH_SECRET" "$RUNNER" mailbox --listen "$BENCH_HOOK" >/dev/null 2>&1 &
MAILBOX_PID=$!
export SPIN_VARIABLE_REQUIRE_EMAIL_VERIFICATION=true \
    SPIN_VARIABLE_EMAIL_WEBHOOK_URL="http://$BENCH_HOOK/hook" \
    SPIN_VARIABLE_EMAIL_WEBHOOK_HOST="http://$BENCH_HOOK" \
    SPIN_VARIABLE_EMAIL_WEBHOOK_SECRET="$BENCH_SECRET"
BACKEND="${BACKENDS%% *}+email"
start_backend "${BACKENDS%% *}"
run "POST /api/auth/register" /api/auth/register register.lua 2
stop_runner
unset SPIN_VARIABLE_REQUIRE_EMAIL_VERIFICATION SPIN_VARIABLE_EMAIL_WEBHOOK_URL \
    SPIN_VARIABLE_EMAIL_WEBHOOK_HOST SPIN_VARIABLE_EMAIL_WEBHOOK_SECRET
kill "$MAILBOX_PID" 2>/dev/null || true

# The cost of a two-factor login against a password login, on the first
# backend: sequential logins on one connection (bench/mfa.py).
export SPIN_VARIABLE_MFA_ENCRYPTION_KEY="$(openssl rand -base64 32)"
BACKEND="${BACKENDS%% *}+2FA"
start_backend "${BACKENDS%% *}"
echo "==> two-factor login vs password login ($BACKEND): sequential, one connection"
while read -r line; do
    RESULTS+=("$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); r["backend"] = sys.argv[2]; print(json.dumps(r))' "${line#BENCH_JSON }" "$BACKEND")")
done < <(python3 bench/mfa.py "$BASE" "$RUNNER_PID" "${BENCH_MFA_SAMPLES:-40}" | grep '^BENCH_JSON ')
stop_runner
unset SPIN_VARIABLE_MFA_ENCRYPTION_KEY

python3 - "$OUT" "$SECONDS_PER_ROUTE" "$CONNECTIONS" "${RESULTS[@]}" <<'PY'
import json, os, platform, sys, datetime
out, seconds, connections, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [json.loads(r) for r in sys.argv[4:]]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
machine = {"cores": os.cpu_count(), "cpu": cpu, "load_tool": "wrk", "seconds_per_route": seconds, "connections": connections,
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
json.dump({"machine": machine, "routes": rows}, open(out, "w"), indent=2)
print(f"\n{machine['cores']} cores, {cpu}; wrk on the same machine, {connections} connections, {seconds} s per route")
print("db CPU = the PostgreSQL server's; SQLite runs inside the runner, so its CPU is in the runner's\n")
header = f"| {'route':<28} | {'backend':<14} | {'conns':>5} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} | {'runner CPU ms/req':>17} | {'db CPU ms/req':>13} | {'instantiate ms':>14} | {'wrk CPU share':>13} |"
print(header); print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
for r in rows:
    share = r["wrk_cpu_s"] / max(r["wrk_cpu_s"] + r["runner_cpu_s"], 1e-9)
    backend = "-" if r["route"] in ("GET /api/healthchecker", "GET /.well-known/jwks.json", "GET /api/nope (404)") else r["backend"]
    print(f"| {r['route']:<28} | {backend:<14} | {r['connections']:>5} | {r['rps']:>8.0f} | {r['p50_ms']:>7.2f} | {r['p99_ms']:>7.2f} | {r['errors']:>6} | {r['runner_cpu_ms_per_request']:>17.3f} | {r['db_cpu_ms_per_request']:>13.3f} | {r['instantiate_ms']:>14.3f} | {share:>12.0%} |")
for r in rows:
    if r["route"] == "GET /api/users/me" and r["connections"] > 1:
        cost = r["runner_cpu_ms_per_request"] + r["db_cpu_ms_per_request"]
        print(f"\n/me ({r['backend']}): instantiating the component is {r['instantiate_ms']:.3f} ms of "
              f"{cost:.3f} ms CPU per request ({r['instantiate_ms'] / cost:.0%})", end="")
print(f"\n\nwritten to {out}")
PY
