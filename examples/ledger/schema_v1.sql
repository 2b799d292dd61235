-- ledger 1.x: one table of clients.
CREATE TABLE IF NOT EXISTS clients (
    id       serial PRIMARY KEY,
    name     text NOT NULL,
    email    text NOT NULL,
    balance  numeric(12, 2) NOT NULL DEFAULT 0,
    street   text NOT NULL DEFAULT '',
    city     text NOT NULL DEFAULT ''
);
