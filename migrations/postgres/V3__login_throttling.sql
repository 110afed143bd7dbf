-- Failed logins per (lower-cased) email, registered or not, and the locks
-- they set. Kept in the database so that throttling holds across instances
-- and replicas. Old rows are pruned on the write path.
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

CREATE TABLE login_locks (
    email         text PRIMARY KEY,
    locked_until  timestamptz NOT NULL
);
CREATE INDEX login_locks_locked_until_idx ON login_locks (locked_until);
