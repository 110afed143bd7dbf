# spin-auth: build, run and test the Spin component with the project's runner.
#   make up     build, set up the database and dev keys, serve on 127.0.0.1:8000
#               (SQLite in .spin/ by default; SPIN_VARIABLE_DATABASE_URL=postgres://...
#               for PostgreSQL), with the development mailbox on 127.0.0.1:8025
#               catching the emails the service sends
#   make test   the whole test suite (unit, runner, and the black-box suite
#               against PostgreSQL and again against SQLite)
# Override with LISTEN=host:port, MAILBOX_LISTEN=host:port and SPIN_VARIABLE_<NAME>=value.

SHELL    := /bin/bash
CARGO    ?= cargo
RUNNER   := target/native/spin-auth-runner
WASM     := target/wasm32-wasip2/release/spin_auth.wasm
LISTEN   ?= 127.0.0.1:8000
MAILBOX_LISTEN ?= 127.0.0.1:8025
DEV_KEYS := .dev-keys

# Local development serves plain http, where browsers drop Secure cookies.
export SPIN_VARIABLE_COOKIE_SECURE ?= false

.PHONY: all build wasm wasm-target runner up migrate dev-keys webhook-secret mfa-key test lint fmt bench bench-micro schemathesis clean

all: build

build: wasm runner

# The component's target, installed when rustup is there and the target is
# not (idempotent; rust-toolchain.toml names it, but rustup does not fetch
# it by itself when RUSTUP_AUTO_INSTALL=0 or on older rustups).
wasm-target:
	@if command -v rustup >/dev/null 2>&1 && \
	    ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then \
	    echo "==> installing the wasm32-wasip2 target (rustup target add)"; \
	    rustup target add wasm32-wasip2; \
	fi

wasm: wasm-target
	@echo "==> building the component ($(WASM))"
	$(CARGO) build --target wasm32-wasip2 --release -p spin-auth

runner:
	@echo "==> building the runner ($(RUNNER))"
	$(CARGO) build --profile native -p spin-auth-runner

# A development key pair, generated once, never committed (.gitignore).
dev-keys: $(DEV_KEYS)/private.pem

$(DEV_KEYS)/private.pem:
	@echo "==> generating a development RS256 key pair in $(DEV_KEYS)/ (not for production)"
	@mkdir -p $(DEV_KEYS) && chmod 700 $(DEV_KEYS)
	@openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $(DEV_KEYS)/private.pem 2>/dev/null
	@openssl pkey -in $(DEV_KEYS)/private.pem -pubout -out $(DEV_KEYS)/public.pem
	@chmod 600 $(DEV_KEYS)/private.pem

# The development mailbox's Standard Webhooks secret, generated once, never
# committed: `make up` gives it to both the mailbox and the service.
webhook-secret: $(DEV_KEYS)/webhook-secret

$(DEV_KEYS)/webhook-secret:
	@echo "==> generating a development webhook secret in $(DEV_KEYS)/ (not for production)"
	@mkdir -p $(DEV_KEYS) && chmod 700 $(DEV_KEYS)
	@umask 077 && printf 'whsec_%s\n' "$$(openssl rand -base64 32)" > $(DEV_KEYS)/webhook-secret
	@chmod 600 $(DEV_KEYS)/webhook-secret

# The development key that encrypts TOTP secrets at rest (two-factor),
# generated once, never committed: `make up` gives it to the service.
mfa-key: $(DEV_KEYS)/mfa-key

$(DEV_KEYS)/mfa-key:
	@echo "==> generating a development mfa_encryption_key in $(DEV_KEYS)/ (not for production)"
	@mkdir -p $(DEV_KEYS) && chmod 700 $(DEV_KEYS)
	@umask 077 && openssl rand -base64 32 > $(DEV_KEYS)/mfa-key
	@chmod 600 $(DEV_KEYS)/mfa-key

# The database follows database_url (spin.toml's default: sqlite:default,
# the file .spin/sqlite_db.db); a Postgres database is created if missing.
migrate: runner
	@echo "==> applying migrations to $(if $(SPIN_VARIABLE_DATABASE_URL),the database in SPIN_VARIABLE_DATABASE_URL,sqlite:default (.spin/sqlite_db.db))"
	$(RUNNER) migrate --create-database --runtime-config-file runtime-config.toml

# The mailbox runs in the background for as long as `up` does. The email
# webhook variables default to it (each only when not set already; a hook
# URL set without its host gets the host from the URL), and the mailbox
# checks signatures with the same secret the service signs with.
up: build dev-keys webhook-secret mfa-key migrate
	@echo "==> mailbox: http://$(MAILBOX_LISTEN)/ (emails the service sends appear here and in this terminal)"
	@echo "==> serving on http://$(LISTEN) (Ctrl-C stops)"
	@secret="$${SPIN_VARIABLE_EMAIL_WEBHOOK_SECRET:-$$(cat $(DEV_KEYS)/webhook-secret)}"; \
	 hook_url="$${SPIN_VARIABLE_EMAIL_WEBHOOK_URL:-http://$(MAILBOX_LISTEN)/hook}"; \
	 MAILBOX_WEBHOOK_SECRET="$$secret" $(RUNNER) mailbox --listen $(MAILBOX_LISTEN) & mailbox=$$!; \
	 trap 'kill $$mailbox 2>/dev/null; wait $$mailbox 2>/dev/null' EXIT; \
	 SPIN_VARIABLE_EMAIL_WEBHOOK_URL="$$hook_url" \
	 SPIN_VARIABLE_EMAIL_WEBHOOK_HOST="$${SPIN_VARIABLE_EMAIL_WEBHOOK_HOST:-$$(printf '%s' "$$hook_url" | cut -d/ -f1-3)}" \
	 SPIN_VARIABLE_EMAIL_WEBHOOK_SECRET="$$secret" \
	 SPIN_VARIABLE_MFA_ENCRYPTION_KEY="$${SPIN_VARIABLE_MFA_ENCRYPTION_KEY:-$$(cat $(DEV_KEYS)/mfa-key)}" \
	 SPIN_VARIABLE_JWT_PRIVATE_KEY="$${SPIN_VARIABLE_JWT_PRIVATE_KEY:-$$(cat $(DEV_KEYS)/private.pem)}" \
	 SPIN_VARIABLE_JWT_PUBLIC_KEY="$${SPIN_VARIABLE_JWT_PUBLIC_KEY:-$$(cat $(DEV_KEYS)/public.pem)}" \
	 $(RUNNER) up --listen $(LISTEN) --runtime-config-file runtime-config.toml

# Everything: the component's unit tests, the runner's tests (against a
# real PostgreSQL) and the black-box suite, which drives the release .wasm
# through the runner in strict mode, once against PostgreSQL and once more
# (the black-box tests only) against SQLite.
test: build
	@echo "==> running the test suite (black-box tests against PostgreSQL)"
	@set -o pipefail; $(CARGO) test --profile native --workspace --features spin-auth/native-db 2>&1 | tee target/test.log
	@echo "==> running the black-box tests against SQLite"
	@set -o pipefail; SPIN_AUTH_TEST_BACKEND=sqlite $(CARGO) test --profile native --workspace --test '*' 2>&1 | tee -a target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "%d passed, %d failed\n", p, f}' target/test.log

lint: wasm-target
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --profile native --workspace --all-targets --features spin-auth/native-db -- -D warnings
	$(CARGO) clippy --target wasm32-wasip2 --release -p spin-auth -- -D warnings

fmt:
	$(CARGO) fmt --all

# HTTP load per route (wrk, 16 connections), then the crypto micro-benchmark.
bench: build dev-keys
	./bench/run.sh
	./bench/micro.sh

bench-micro: runner dev-keys
	./bench/micro.sh

clean:
	$(CARGO) clean
	rm -rf .spin

# Fuzz the running service with schemathesis against its OpenAPI document
# (every check; installs schemathesis with pip when missing). Options:
# SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_SEED, SCHEMATHESIS_ARGS (see the script).
schemathesis: build dev-keys
	./tests/schemathesis/run.sh
