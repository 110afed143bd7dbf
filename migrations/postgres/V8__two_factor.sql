-- Two-factor login (TOTP, RFC 6238) with recovery codes.
--
-- mfa_factors: at most one per user. sealed_secret is the TOTP secret
-- encrypted with AES-256-GCM under mfa_encryption_key (12-byte nonce, then
-- ciphertext and tag; the user id is the associated data), so a leaked
-- database alone bypasses no second factor. A factor is pending until
-- confirmed_at is set. last_step is the last time step (unix time / 30)
-- whose code was accepted: only later steps are accepted (replay, RFC 6238
-- section 5.2).
CREATE TABLE mfa_factors (
    user_id        uuid PRIMARY KEY,
    sealed_secret  bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_at   timestamptz,
    last_step      bigint
);

-- Recovery codes: only their SHA-256 (each holds 100 random bits, so a
-- fast hash is enough: nothing to guess from it). used_at set once used.
CREATE TABLE mfa_recovery_codes (
    code_hash  bytea PRIMARY KEY,
    user_id    uuid NOT NULL,
    used_at    timestamptz
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

-- The second step of a login: issued when the right password met a
-- confirmed factor, good for 5 minutes, one successful use, and fewer
-- than 5 wrong codes. Only its SHA-256 is stored.
CREATE TABLE mfa_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    failures    integer NOT NULL DEFAULT 0,
    spent_at    timestamptz,
    user_agent  text,
    ip          text
);
CREATE INDEX mfa_tokens_user_idx ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_idx ON mfa_tokens (expires_at);

-- How the session's login was authenticated (the access tokens' amr
-- claim, kept across refreshes): 'pwd', or 'pwd otp' after two-factor.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
