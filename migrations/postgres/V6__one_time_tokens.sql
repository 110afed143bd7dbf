-- One-time tokens of the account flows: email verification and password
-- reset. Only the token's SHA-256 is stored. A token is good while
-- spent_at is NULL and expires_at is ahead; using it, a newer token of the
-- same kind, or a new password sets spent_at. Rows stay until a day past
-- their expiry (they count toward the limit of 3 emails per address per
-- hour), then are pruned on the write path. No foreign key, as for
-- sessions: deleting a user deletes its tokens in the same statement.
CREATE TABLE one_time_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('email_verification', 'password_reset')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, created_at);
CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at);
