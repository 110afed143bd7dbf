-- Two-factor login (TOTP) with recovery codes: the same tables as
-- migrations/postgres/V8 (see there for what each column holds). Instants
-- are microseconds since the Unix epoch from the component's clock. The
-- triggers of V3 that apply a new password and delete a user are
-- recreated to cover the new tables: a new password kills open
-- mfa_tokens; a deleted user's factor and codes go with it.
CREATE TABLE mfa_factors (
    user_id        TEXT NOT NULL PRIMARY KEY,
    sealed_secret  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    confirmed_at   INTEGER,
    last_step      INTEGER
) STRICT;

CREATE TABLE mfa_recovery_codes (
    code_hash  BLOB NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

CREATE TABLE mfa_tokens (
    token_hash  BLOB NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    spent_at    INTEGER,
    user_agent  TEXT,
    ip          TEXT
) STRICT;
CREATE INDEX mfa_tokens_user_idx ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_idx ON mfa_tokens (expires_at);

ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

DROP TRIGGER account_changes_apply;

CREATE TRIGGER account_changes_apply
AFTER INSERT ON account_changes
BEGIN
    UPDATE one_time_tokens SET spent_at = new.at WHERE token_hash = new.token_hash;
    UPDATE one_time_tokens SET spent_at = new.at
    WHERE new.password IS NOT NULL AND user_id = new.user_id AND spent_at IS NULL;
    UPDATE mfa_tokens SET spent_at = new.at
    WHERE new.password IS NOT NULL AND user_id = new.user_id AND spent_at IS NULL;
    UPDATE users SET
        password = COALESCE(new.password, password),
        verified = CASE WHEN new.token_hash IS NOT NULL THEN 1 ELSE verified END,
        role = CASE WHEN new.make_admin = 1 THEN 'admin' ELSE role END,
        updated_at = new.at
    WHERE id = new.user_id;
    UPDATE sessions SET revoked_at = new.at, revoked_reason = new.kind
    WHERE new.password IS NOT NULL AND user_id = new.user_id AND revoked_at IS NULL
      AND id IS NOT new.keep_session;
    DELETE FROM login_throttle
    WHERE new.kind = 'password_reset'
      AND email = (SELECT lower(email) FROM users WHERE id = new.user_id);
    INSERT INTO security_events (user_id, type, at, ip, user_agent, session_id)
    VALUES (new.user_id, new.kind, new.at, new.ip, new.user_agent, new.keep_session);
    DELETE FROM account_changes WHERE id = new.id;
END;

DROP TRIGGER users_delete_dependents;

CREATE TRIGGER users_delete_dependents
AFTER DELETE ON users
BEGIN
    UPDATE sessions
    SET revoked_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
        revoked_reason = 'account_deleted'
    WHERE user_id = old.id AND revoked_at IS NULL;
    DELETE FROM one_time_tokens WHERE user_id = old.id;
    DELETE FROM security_events WHERE user_id = old.id;
    DELETE FROM mfa_factors WHERE user_id = old.id;
    DELETE FROM mfa_recovery_codes WHERE user_id = old.id;
    DELETE FROM mfa_tokens WHERE user_id = old.id;
END;
