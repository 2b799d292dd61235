-- Sample app schema v2: name split in two, money in integer cents,
-- and the address moved out of accounts into a table of its own.
CREATE TABLE IF NOT EXISTS accounts (
    id             bigserial PRIMARY KEY,
    first_name     text NOT NULL,
    last_name      text,           -- NULL: the name had no space at all
    email          text NOT NULL,
    balance_cents  bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS addresses (
    account_id  bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    street      text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT ''
);
