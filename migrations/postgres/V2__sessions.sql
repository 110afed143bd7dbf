-- One row per login. The refresh token is opaque; only its SHA-256 is kept.
-- No foreign key to users on purpose: when a user is deleted, a refresh with
-- one of its tokens must still be recognised to answer "The user belonging
-- to this token no longer exist". Rows are pruned after they expire.
CREATE TABLE sessions (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    -- SHA-256 of the current refresh token
    refresh_token_hash  bytea NOT NULL UNIQUE,
    -- how many times the refresh token was rotated
    generation          integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    -- the current refresh token's expiry (sliding, capped by the next column)
    expires_at          timestamptz NOT NULL,
    -- login + session_absolute_timeout_minutes
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Refresh tokens that were rotated away. Presenting one again is reuse (a
-- sign of theft) and revokes its session.
CREATE TABLE retired_refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    retired_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retired_refresh_tokens_session_idx ON retired_refresh_tokens (session_id);
