-- pgbench's TPC-B-like tables, as blue has them. Two changes from `pgbench -i`:
-- pgbench_history gets a key (greenswap replays only tables with a primary key;
-- pgbench's own INSERT names its columns, so it is unaffected), and accounts get a
-- free-text `notes` column, long enough to be stored out of line (TOAST).
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int NOT NULL, filler char(88));
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int NOT NULL, tbalance int NOT NULL,
                              filler char(84));
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL,
                               filler char(84), notes text);
CREATE TABLE pgbench_history (hid bigserial PRIMARY KEY, tid int, bid int, aid int,
                              delta int, mtime timestamp, filler char(22));
