-- Sample app schema v1: one table.
CREATE TABLE IF NOT EXISTS accounts (
    id          bigserial PRIMARY KEY,
    full_name   text NOT NULL,
    email       text NOT NULL,
    balance     numeric(12, 2) NOT NULL DEFAULT 0,
    street      text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
