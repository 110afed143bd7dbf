-- Admin API: an account an admin disabled cannot log in (403), refresh or
-- use its tokens (its sessions were revoked when it was disabled). The
-- index serves the admin listing's keyset pagination, oldest first.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
CREATE INDEX users_created_idx ON users (created_at, id);
