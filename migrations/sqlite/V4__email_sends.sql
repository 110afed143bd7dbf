-- The instants of the address's verification and reset emails of the last
-- hour, a JSON array of microseconds (as login_throttle.attempts): the
-- same column as migrations/postgres/V7.
ALTER TABLE users ADD COLUMN email_sends TEXT NOT NULL DEFAULT '[]';
