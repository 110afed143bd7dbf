-- When the address's last verification and reset emails were sent (those
-- of the last hour are kept): the limit of 3 per address per rolling hour
-- is checked and counted on the user's row in the statement that mints
-- the token, so parallel requests queue on the row and none slips past it
-- (a count of one_time_tokens rows could not see a parallel insert).
ALTER TABLE users ADD COLUMN email_sends timestamptz[] NOT NULL DEFAULT '{}';
