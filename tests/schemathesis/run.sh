#!/usr/bin/env bash
# Fuzzes the service with schemathesis (`make schemathesis`): serves the
# built component (spin.toml, the .dev-keys key pair, SQLite in a scratch
# state dir) on a free loopback port, logs in, and runs every check of
# schemathesis against the OpenAPI document the service serves
# (GET /api/openapi.json, i.e. openapi.json as of the last `make build`).
# Exits non-zero when schemathesis finds a failure.
#
# Needs `make build dev-keys`. Settings (environment):
#   SCHEMATHESIS_MAX_EXAMPLES  generated test cases per operation (default 200)
#   SCHEMATHESIS_SEED          reproduce an earlier run (its seed is printed)
#   SCHEMATHESIS_ARGS          more options for `schemathesis run`
#   SCHEMATHESIS_SCHEMA_FILE   fuzz against this OpenAPI file (path from the
#                              repository root; e.g. an edited
#                              openapi.json not yet built into the component)
#                              instead of the served document
# The configuration beside this script (schemathesis.toml) makes the
# contract's semantic statuses of register and login expected for valid
# input, and gives each credential-spending operation a session of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
RUNNER=target/native/spin-auth-runner
WASM=target/wasm32-wasip2/release/spin_auth.wasm
KEYS=.dev-keys
HERE=tests/schemathesis
PY=python3
VENV=target/schemathesis-venv
# A virtualenv made by an earlier run (see below) is used again.
if [ -x "$VENV/bin/python" ]; then
    PY=$VENV/bin/python
fi

for f in "$RUNNER" "$WASM" "$KEYS/private.pem" "$KEYS/public.pem"; do
    if [ ! -f "$f" ]; then
        echo "error: $f is missing: run \`make build dev-keys\` first" >&2
        exit 2
    fi
done

installed() { "$PY" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true; }
if [ "$(installed)" != "$SCHEMATHESIS_VERSION" ]; then
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION (pip)"
    if ! "$PY" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then
        # A Python that refuses pip installs (PEP 668): a virtualenv of our own.
        echo "==> pip refused; using a virtualenv in $VENV"
        "$PY" -m venv "$VENV"
        PY=$VENV/bin/python
        if [ "$(installed)" != "$SCHEMATHESIS_VERSION" ]; then
            "$PY" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
        fi
    fi
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/spin-auth-schemathesis.XXXXXX")
RUNNER_PID=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    if [ -n "$RUNNER_PID" ]; then
        kill "$RUNNER_PID" 2>/dev/null || true
        wait "$RUNNER_PID" 2>/dev/null || true
    fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Variables given with --variable win over the environment, a .env file
# and the runtime config: the run always uses SQLite in the scratch dir,
# the dev keys, plain-http cookies, and a login throttle that no amount of
# fuzzing reaches (so 429s mask no other answer).
echo "==> starting the runner (SQLite in $SCRATCH/state)"
"$RUNNER" up --from spin.toml --listen 127.0.0.1:0 --state-dir "$SCRATCH/state" \
    --variable database_url=sqlite:default \
    --variable "jwt_private_key=@$KEYS/private.pem" \
    --variable "jwt_public_key=@$KEYS/public.pem" \
    --variable cookie_secure=false \
    --variable login_max_failures=1000000 \
    --variable mfa_encryption_key=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= \
    >"$SCRATCH/runner.log" 2>&1 &
RUNNER_PID=$!

BASE=
for _ in $(seq 1 100); do
    BASE=$(sed -n 's#^listening on \(http://127\.0\.0\.1:[0-9]*\).*#\1#p' "$SCRATCH/runner.log" | head -n 1)
    [ -n "$BASE" ] && break
    if ! kill -0 "$RUNNER_PID" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$BASE" ] || ! curl -sf -o /dev/null "$BASE/api/healthchecker"; then
    echo "error: the runner did not start:" >&2
    cat "$SCRATCH/runner.log" >&2
    exit 1
fi
echo "    serving on $BASE"

# The served document is the one built into the component: stop on a stale
# build rather than fuzz an older document.
if [ -n "${SCHEMATHESIS_SCHEMA_FILE:-}" ]; then
    location=$(realpath "$SCHEMATHESIS_SCHEMA_FILE")
    location_args=(--url "$BASE")
else
    location="$BASE/api/openapi.json"
    location_args=()
    if ! curl -sf "$location" | cmp -s - openapi.json; then
        echo "error: the component serves another openapi.json than the working tree's: run \`make build\`" >&2
        exit 2
    fi
fi

# Users and sessions. The main access token (-H below) serves every
# operation except those that spend a credential, which get sessions of
# their own (schemathesis.toml). ada@example.com is also the OpenAPI
# document's request example, so the examples phase logs in for real.
PASSWORD='correct horse battery staple'
json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
register() {
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/auth/register" \
        -H 'Content-Type: application/json' \
        -d "{\"name\": \"$1\", \"email\": \"$2\", \"password\": \"$PASSWORD\", \"passwordConfirm\": \"$PASSWORD\"}")
    if [ "$status" != 201 ]; then
        echo "error: registering $2 answered $status" >&2
        exit 1
    fi
}
# login EMAIL FIELD: a new session; FIELD is access_token or refresh_token.
login() {
    local headers body
    headers="$SCRATCH/login.headers"
    body=$(curl -sf -D "$headers" -X POST "$BASE/api/auth/login" \
        -H 'Content-Type: application/json' \
        -d "{\"email\": \"$1\", \"password\": \"$PASSWORD\"}") || {
        echo "error: logging in $1 failed" >&2
        exit 1
    }
    if [ "$2" = access_token ]; then
        json_field access_token <<<"$body"
    else
        sed -n 's/^[Ss]et-[Cc]ookie: refresh_token=\([^;]*\);.*/\1/p' "$headers"
    fi
}
register "Ada Lovelace" ada@example.com
register "Grace Hopper" grace@example.com
register "Alan Turing" alan@example.com
TOKEN=$(login ada@example.com access_token)
ST_REFRESH_GET_TOKEN=$(login ada@example.com refresh_token)
ST_REFRESH_POST_TOKEN=$(login ada@example.com refresh_token)
ST_LOGOUT_GET_TOKEN=$(login ada@example.com access_token)
ST_LOGOUT_POST_TOKEN=$(login ada@example.com access_token)
# logout-all revokes every session of its user: another user.
ST_LOGOUT_ALL_TOKEN=$(login grace@example.com access_token)
# Ending a session by id may end the caller's own: a third user's session,
# so that the stateful phase (which feeds it the main user's session ids)
# cannot end the main one.
ST_REVOKE_SESSION_TOKEN=$(login alan@example.com access_token)
export ST_REFRESH_GET_TOKEN ST_REFRESH_POST_TOKEN ST_LOGOUT_GET_TOKEN ST_LOGOUT_POST_TOKEN \
    ST_LOGOUT_ALL_TOKEN ST_REVOKE_SESSION_TOKEN
for name in TOKEN ST_REFRESH_GET_TOKEN ST_REFRESH_POST_TOKEN ST_LOGOUT_GET_TOKEN ST_LOGOUT_POST_TOKEN \
    ST_LOGOUT_ALL_TOKEN ST_REVOKE_SESSION_TOKEN; do
    if [ -z "${!name}" ]; then
        echo "error: login gave no token for $name" >&2
        exit 1
    fi
done
if ! curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/api/users/me"; then
    echo "error: the access token does not open /api/users/me" >&2
    exit 1
fi

args=("${location_args[@]}" --checks all -H "Authorization: Bearer $TOKEN"
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-200}" --workers 2 --no-color)
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then
    args+=(--seed "$SCHEMATHESIS_SEED")
fi
if [ -n "${SCHEMATHESIS_ARGS:-}" ]; then
    # shellcheck disable=SC2206 # word splitting wanted: a list of options
    args+=($SCHEMATHESIS_ARGS)
fi

config="$PWD/$HERE/schemathesis.toml"
echo "==> schemathesis --config-file $HERE/schemathesis.toml run $location ${args[*]/Bearer */Bearer <token>}"
status=0
# From the scratch dir: schemathesis keeps its example database and
# reports in the current directory.
(cd "$SCRATCH" && "$PY" -m schemathesis.cli --config-file "$config" \
    run "$location" "${args[@]}") || status=$?
if [ "$status" != 0 ]; then
    echo "==> schemathesis found failures (exit $status); the runner's log:" >&2
    grep -v '^INFO method=' "$SCRATCH/runner.log" | tail -n 50 >&2 || true
fi
exit "$status"
