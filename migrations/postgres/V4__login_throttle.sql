-- Login throttling, take two: one row per (lower-cased) email holding the
-- times of its recent attempts. Each attempt is counted BEFORE its password
-- is checked, with one upsert on this row, so parallel guesses queue on the
-- row lock and cannot slip past the limit (V3 counted failures after the
-- fact, which a burst of parallel guesses could outrun).
DROP TABLE login_failures;
DROP TABLE login_locks;

CREATE TABLE login_throttle (
    email            text PRIMARY KEY,
    -- attempts within the window, oldest first; at most login_max_failures
    attempts         timestamptz[] NOT NULL,
    -- set by the attempt that reached the limit; lifts a window later
    locked_until     timestamptz,
    -- whether the latest attempt was refused because of the lock
    refused          boolean NOT NULL DEFAULT false,
    last_attempt_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_last_attempt_idx ON login_throttle (last_attempt_at);
