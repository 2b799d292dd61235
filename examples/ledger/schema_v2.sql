-- ledger 2.x: clients renamed to customers, with its sequence; the id widened to
-- bigint; street and city become one jsonb address.
CREATE SEQUENCE IF NOT EXISTS customers_id_seq AS bigint;
CREATE TABLE IF NOT EXISTS customers (
    id       bigint PRIMARY KEY DEFAULT nextval('customers_id_seq'),
    name     text NOT NULL,
    email    text NOT NULL,
    balance  numeric(12, 2) NOT NULL DEFAULT 0,
    address  jsonb NOT NULL DEFAULT '{}'
);
ALTER SEQUENCE customers_id_seq OWNED BY customers.id;
