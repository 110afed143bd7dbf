-- Users, as the FastAPI tutorial has them, with a case-insensitive unique
-- email. PostgreSQL >= 13 has gen_random_uuid() built in (no uuid-ossp).
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    email       text NOT NULL CHECK (char_length(email) <= 254),
    -- argon2id PHC string, never returned by the API
    password    text NOT NULL,
    photo       text CHECK (photo IS NULL OR char_length(photo) <= 2048),
    verified    boolean NOT NULL DEFAULT true,
    role        text NOT NULL DEFAULT 'user',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Concurrent registrations of one email end in exactly one row: the
-- component maps this index's violation (23505) to 409.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
