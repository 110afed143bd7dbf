-- Where each session was started (the login's User-Agent, cut at 256
-- characters, and the client IP Spin reports, without the port), and the
-- security event log users read at GET /api/users/me/events.
ALTER TABLE sessions ADD COLUMN user_agent text;
ALTER TABLE sessions ADD COLUMN ip text;

-- One row per event of a user's account. Never a token, password, code or
-- hash: only what happened, when, from where. No foreign key, as for
-- sessions: rows are pruned past security_event_retention_days on the
-- write path.
CREATE TABLE security_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL,
    type        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    ip          text,
    user_agent  text,
    session_id  uuid
);
CREATE INDEX security_events_user_idx ON security_events (user_id, id);
CREATE INDEX security_events_at_idx ON security_events (at);
