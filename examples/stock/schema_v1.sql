-- stock 1.x: a stock level per product, and every move that changed it, with an
-- audit line per move. Each sale or delivery is one transaction: one hot row
-- updated (products.qty), two rows inserted (a uuid-keyed move, an audit line).
CREATE TABLE IF NOT EXISTS products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    qty         integer NOT NULL DEFAULT 0,
    moves       integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS moves (
    id     uuid PRIMARY KEY,
    sku    text NOT NULL REFERENCES products (sku),
    delta  integer NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS audit (
    id     bigserial PRIMARY KEY,
    sku    text NOT NULL,
    note   text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
