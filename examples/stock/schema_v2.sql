-- stock 2.x: products becomes stock_levels with a bigint on_hand; a move's delta
-- is now its quantity; audit becomes audit_log, its sequence renamed with it.
CREATE TABLE IF NOT EXISTS stock_levels (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    on_hand     bigint NOT NULL DEFAULT 0,
    moves       integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS moves (
    id        uuid PRIMARY KEY,
    sku       text NOT NULL REFERENCES stock_levels (sku),
    quantity  integer NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE IF NOT EXISTS audit_log_id_seq AS bigint;
CREATE TABLE IF NOT EXISTS audit_log (
    id       bigint PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
    sku      text NOT NULL,
    message  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
