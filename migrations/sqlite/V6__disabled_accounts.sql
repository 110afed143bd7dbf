-- Admin API: the same column and index as migrations/postgres/V9.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_created_idx ON users (created_at, id);
