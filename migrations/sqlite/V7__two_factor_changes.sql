-- SQLite only: confirming and disabling a TOTP factor, each applied by the
-- trigger below within the one INSERT that files it (PostgreSQL does the
-- same in one statement with CTEs; SQLite has no writable CTEs). The
-- trigger first decides whether the change applies and marks the row
-- `applied`; every other step follows that mark. The component then takes
-- the row out again (`DELETE … RETURNING applied`), so the table is empty
-- but for a change whose request died in between.
--
-- kind 'mfa_enabled' (confirm) applies when the user's factor is pending
-- and `step` is later than its last accepted one: the factor is confirmed
-- (`reseal`, when set, replaces the sealed secret), its recovery codes
-- become `codes` (their SHA-256 digests, 32 bytes each, concatenated),
-- every session but keep_session is revoked, and the event is recorded.
-- kind 'mfa_disabled' applies when the factor is confirmed: the event is
-- recorded and the factor, its recovery codes and the user's mfa_tokens go.
CREATE TABLE mfa_changes (
    id            INTEGER NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('mfa_enabled', 'mfa_disabled')),
    step          INTEGER,
    reseal        BLOB,
    codes         BLOB,
    keep_session  TEXT,
    at            INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    applied       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TRIGGER mfa_changes_apply
AFTER INSERT ON mfa_changes
BEGIN
    UPDATE mfa_changes SET applied = 1
    WHERE id = new.id AND EXISTS (
        SELECT 1 FROM mfa_factors f WHERE f.user_id = new.user_id AND (
            (new.kind = 'mfa_enabled' AND f.confirmed_at IS NULL
             AND (f.last_step IS NULL OR f.last_step < new.step))
            OR (new.kind = 'mfa_disabled' AND f.confirmed_at IS NOT NULL)));
    UPDATE mfa_factors SET confirmed_at = new.at, last_step = new.step,
        sealed_secret = coalesce(new.reseal, sealed_secret)
    WHERE new.kind = 'mfa_enabled' AND user_id = new.user_id
      AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    DELETE FROM mfa_recovery_codes
    WHERE user_id = new.user_id AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    INSERT INTO mfa_recovery_codes (code_hash, user_id)
    SELECT substr(new.codes, n.value * 32 + 1, 32), new.user_id
    FROM json_each('[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]') AS n
    WHERE new.kind = 'mfa_enabled' AND n.value * 32 < length(new.codes)
      AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    UPDATE sessions SET revoked_at = new.at, revoked_reason = 'mfa_enabled'
    WHERE new.kind = 'mfa_enabled' AND user_id = new.user_id AND revoked_at IS NULL
      AND id IS NOT new.keep_session
      AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    DELETE FROM mfa_tokens
    WHERE new.kind = 'mfa_disabled' AND user_id = new.user_id
      AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    DELETE FROM mfa_factors
    WHERE new.kind = 'mfa_disabled' AND user_id = new.user_id
      AND (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
    INSERT INTO security_events (user_id, type, at, ip, user_agent, session_id)
    SELECT new.user_id, new.kind, new.at, new.ip, new.user_agent, new.keep_session
    WHERE (SELECT applied FROM mfa_changes WHERE id = new.id) = 1;
END;
