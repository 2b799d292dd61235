-- :scale branches, 10 tellers and 10,000 accounts each (pgbench -i has 100,000);
-- every tenth account has a long note.
INSERT INTO pgbench_branches SELECT b, 0, NULL FROM generate_series(1, :scale) b;
INSERT INTO pgbench_tellers SELECT t, (t - 1) / 10 + 1, 0, NULL
  FROM generate_series(1, 10 * :scale) t;
INSERT INTO pgbench_accounts SELECT a, (a - 1) / 10000 + 1, 0, '',
       CASE WHEN a % 10 = 0 THEN (SELECT string_agg(md5(a::text || g::text), '')
                                   FROM generate_series(1, 150) g) END
  FROM generate_series(1, 10000 * :scale) a;
