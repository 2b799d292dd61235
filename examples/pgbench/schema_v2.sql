-- Green's schema: money in integer cents, tables renamed, an account's notes in a
-- table of their own, history times with their zone. The history key's sequence is
-- renamed with its table: transform.py declares which blue sequence it follows.
CREATE TABLE branches (bid int PRIMARY KEY, balance_cents bigint NOT NULL, filler char(88));
CREATE TABLE tellers (tid int PRIMARY KEY, bid int NOT NULL, balance_cents bigint NOT NULL,
                      filler char(84));
CREATE TABLE accounts (aid int PRIMARY KEY, bid int NOT NULL, balance_cents bigint NOT NULL,
                       filler char(84));
CREATE TABLE account_notes (aid int PRIMARY KEY, notes text NOT NULL);
CREATE TABLE history (hid bigserial PRIMARY KEY, tid int, bid int, aid int,
                      delta_cents bigint, mtime timestamptz, filler char(22));
