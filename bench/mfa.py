#!/usr/bin/env python3
"""The cost of a two-factor login against a password login (`make bench`).

Sequential, on one connection at a time (a user logging in, not a load
test): SAMPLES password logins of a user without two-factor, then SAMPLES
two-factor logins (login -> mfa_required, then login/mfa) of a user with
TOTP on. Each second step spends a recovery code (a TOTP code works once
per 30-second step), so the bench user re-enrolls every 10 logins, outside
the timed part. Prints one BENCH_JSON line per row, in run.sh's row shape.

usage: mfa.py BASE_URL RUNNER_PID [SAMPLES]
"""
import base64, hashlib, hmac, json, os, statistics, struct, sys, time, urllib.request, urllib.error

BASE, RUNNER_PID = sys.argv[1], int(sys.argv[2])
SAMPLES = int(sys.argv[3]) if len(sys.argv) > 3 else 40
PASSWORD = "password123"
HZ = os.sysconf("SC_CLK_TCK")


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def totp(secret_b32, offset=0):
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = struct.pack(">Q", int(time.time()) // 30 + offset)
    digest = hmac.new(secret, counter, hashlib.sha1).digest()
    start = digest[19] & 0x0F
    value = struct.unpack(">I", digest[start:start + 4])[0] & 0x7FFFFFFF
    return "%06d" % (value % 1_000_000)


def register(email):
    status, _ = call("POST", "/api/auth/register",
                     {"name": "Bench", "email": email, "password": PASSWORD, "passwordConfirm": PASSWORD})
    assert status == 201, status
    status, body = call("POST", "/api/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, (status, body)
    return body["access_token"]


def enroll(token):
    """Two-factor on for the token's user; its recovery codes."""
    status, body = call("POST", "/api/users/me/mfa/totp", {"password": PASSWORD}, token)
    assert status == 200, (status, body)
    status, body = call("POST", "/api/users/me/mfa/totp/confirm", {"code": totp(body["secret"])}, token)
    assert status == 200, (status, body)
    return body["recovery_codes"]


def ticks():
    with open(f"/proc/{RUNNER_PID}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def row(route, samples, cpu_ticks, requests):
    samples = sorted(samples)
    mean = statistics.mean(samples)
    return {"route": route, "requests": requests, "rps": 1000 / mean, "p50_ms": statistics.median(samples),
            "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))], "mean_ms": mean,
            "errors": 0, "status_errors": 0, "runner_cpu_s": cpu_ticks / HZ, "wrk_cpu_s": 0.0, "db_cpu_s": 0.0,
            "runner_cpu_ms_per_request": round(1000 * cpu_ticks / HZ / requests, 3),
            "db_cpu_ms_per_request": 0.0, "instantiate_ms": 0.0, "connections": 1}


def main():
    stamp = int(time.time() * 1000)
    plain_email, mfa_email = f"plain-{stamp}@example.com", f"mfa-{stamp}@example.com"
    register(plain_email)
    token = register(mfa_email)
    codes = []

    password, before = [], ticks()
    for _ in range(SAMPLES):
        started = time.perf_counter()
        status, body = call("POST", "/api/auth/login", {"email": plain_email, "password": PASSWORD})
        password.append(1000 * (time.perf_counter() - started))
        assert status == 200 and body["status"] == "success", (status, body)
    password_ticks = ticks() - before

    two_factor, second_steps, mfa_ticks = [], [], 0
    for _ in range(SAMPLES):
        if not codes:
            if second_steps:  # re-enroll: off (with a fresh code), then on again
                status, body = call("DELETE", "/api/users/me/mfa/totp",
                                    {"password": PASSWORD, "code": spare}, token)
                assert status == 200, (status, body)
            codes = enroll(token)
            spare = codes.pop()
        before = ticks()
        started = time.perf_counter()
        status, body = call("POST", "/api/auth/login", {"email": mfa_email, "password": PASSWORD})
        assert status == 200 and body["status"] == "mfa_required", (status, body)
        middle = time.perf_counter()
        status, body = call("POST", "/api/auth/login/mfa", {"mfa_token": body["mfa_token"], "code": codes.pop()})
        ended = time.perf_counter()
        mfa_ticks += ticks() - before
        assert status == 200 and body["status"] == "success", (status, body)
        two_factor.append(1000 * (ended - started))
        second_steps.append(1000 * (ended - middle))

    rows = [row("login (password only)", password, password_ticks, SAMPLES),
            row("login + login/mfa (2FA)", two_factor, mfa_ticks, SAMPLES),
            row("POST /api/auth/login/mfa", second_steps, 0, SAMPLES)]
    for r in rows:
        print("BENCH_JSON " + json.dumps(r))
    ratio = statistics.mean(two_factor) / statistics.mean(password)
    print(f"two-factor login / password login (mean latency, one connection): {ratio:.2f}x; "
          f"the second step alone: {statistics.mean(second_steps):.1f} ms of {statistics.mean(two_factor):.1f} ms",
          file=sys.stderr)


main()
