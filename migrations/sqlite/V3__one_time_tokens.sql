-- One-time tokens of the account flows (email verification, password
-- reset): the same table as migrations/postgres/V6. Spin turns on no
-- foreign keys and SQLite has no writable CTEs, so the writes that
-- PostgreSQL does in one statement with CTEs are done here by triggers,
-- each fired by the one statement the component sends. Keep one statement
-- per `;`-ended line group, and a trigger's body between a line `BEGIN`
-- and a line `END;`.
CREATE TABLE one_time_tokens (
    token_hash  BLOB NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('email_verification', 'password_reset')),
    -- microseconds since the Unix epoch, from the component's clock
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    spent_at    INTEGER
) STRICT;
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, created_at);
CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at);

-- A newer token voids the older open ones of its kind.
CREATE TRIGGER one_time_tokens_void_older
AFTER INSERT ON one_time_tokens
BEGIN
    UPDATE one_time_tokens SET spent_at = new.created_at
    WHERE user_id = new.user_id AND kind = new.kind AND spent_at IS NULL
      AND token_hash <> new.token_hash;
END;

-- SQLite only: a change of an account's credentials, applied by the
-- trigger below within the INSERT that files it, then removed (the table
-- is always empty between statements). A verification spends its token
-- and verifies the user; a new password (reset or change) also spends
-- every open token of the user and revokes its sessions but keep_session;
-- a reset clears the email's failed logins. Each records its event.
CREATE TABLE account_changes (
    id            INTEGER NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    -- the security event: email_verified, password_reset, password_changed
    kind          TEXT NOT NULL,
    token_hash    BLOB,
    password      TEXT,
    keep_session  TEXT,
    make_admin    INTEGER NOT NULL DEFAULT 0,
    at            INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT
) STRICT;

CREATE TRIGGER account_changes_apply
AFTER INSERT ON account_changes
BEGIN
    UPDATE one_time_tokens SET spent_at = new.at WHERE token_hash = new.token_hash;
    UPDATE one_time_tokens SET spent_at = new.at
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

-- Deleting a user takes its tokens and events with it and revokes its
-- sessions (kept, so that their refresh tokens answer "the user no longer
-- exists" rather than "unknown token").
CREATE TRIGGER users_delete_dependents
AFTER DELETE ON users
BEGIN
    UPDATE sessions
    SET revoked_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
        revoked_reason = 'account_deleted'
    WHERE user_id = old.id AND revoked_at IS NULL;
    DELETE FROM one_time_tokens WHERE user_id = old.id;
    DELETE FROM security_events WHERE user_id = old.id;
END;
