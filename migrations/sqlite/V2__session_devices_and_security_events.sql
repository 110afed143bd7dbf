-- Where each session was started (the login's User-Agent, cut at 256
-- characters, and the client IP Spin reports, without the port), and the
-- security event log users read at GET /api/users/me/events. The same
-- columns as migrations/postgres/V5.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;

CREATE TABLE security_events (
    id          INTEGER NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    type        TEXT NOT NULL,
    -- microseconds since the Unix epoch, from the component's clock
    at          INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    session_id  TEXT
) STRICT;
CREATE INDEX security_events_user_idx ON security_events (user_id, id);
CREATE INDEX security_events_at_idx ON security_events (at);
