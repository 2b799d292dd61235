"""Benchmark: greenswap's replay against PostgreSQL's native logical replication.

Measurements, all on this machine in this run, printed as ratios against the
native baseline measured alongside (see docs/PERFORMANCE.md for results). Each runs
with the sample app's f in SQL (its own) and in Python (its reference), `--f`;
`--f mirror` adds the like-for-like figure: f in SQL into a green table of blue's
own shape, one green row per blue row as native writes (bench/mirror_transform.py):

  (a) backlog: N mixed changes (pgbench: insert, update, delete in small transactions)
      waiting in the slot; time to apply them through the sample v1->v2 transform,
      against a native subscription on same-shaped tables. Ratio = native / greenswap.
  (b) snapshot: M rows copied through f, against native initial table sync.
      Ratio = native / greenswap.
  (c) live: blue under pgbench at a fixed rate; lag of the replayer and of the native
      subscriber, sampled every 10 ms (the time from a source commit position to the
      target holding it): p50, p99.
  (d) verify: green == f(blue) over the M rows (b) copied, both as of one point in
      blue's log (as a rollout verifies), against (b)'s own time.
      Ratio = verify / snapshot (goal <= 1.0x).
  (e) pgbench backlog: T transactions of the pgbench example's blue.pgbench (TPC-B
      with 1 branch and 10 tellers: every transaction updates the same hot rows)
      waiting in the slot, through its transform (SQL f for branches, tellers and
      history; the Python f of them all with --f python), against native.

Each measurement runs --runs times (3 by default) on the same clusters, greenswap's
and native's alternately, both streams dropped and their targets emptied between
runs; printed per run and as the median of the runs.

Run as root (the clusters run as the postgres user), from the repository root:

    .venv/bin/python bench/replay.py [--rows 1000000] [--changes 200000] [--rate 2000]
                                     [--parts b,d,a,c,e] [--runs 3] [--f sql,python,mirror]
                                     [--pgbench-txns 48000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.db.pgoutput import lsn_int  # noqa: E402
from orchestrator.db.replayer import Replay  # noqa: E402
from orchestrator.db.transform import load  # noqa: E402
from orchestrator.db.verify import verify_at_point  # noqa: E402
from tests.pg import Cluster  # noqa: E402

APP = ROOT / "examples" / "sample-app"
PGBENCH = ROOT / "examples" / "pgbench"
# f in SQL (the examples' own) or in Python (their references), by --f.
TRANSFORMS = {"sql": APP / "transform.py",
              "python": ROOT / "tests" / "data" / "sample_app_python.py",
              "mirror": ROOT / "bench" / "mirror_transform.py"}
# The green table each transform writes blue's accounts to (the backlog's end marker).
GREEN_ACCOUNTS = {"sql": "accounts", "python": "accounts", "mirror": "mirror.accounts"}
PGBENCH_TRANSFORMS = {"sql": PGBENCH / "transform.py",
                      "python": ROOT / "tests" / "data" / "pgbench_python.py"}
PGBENCH_TABLES = ("pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history")
PGBENCH_MARKER = 424242  # the delta of the history row that ends the backlog
DEADLINE_S = 900  # every wait here is bounded
SAMPLE_S = 0.01  # live lag: both sides polled this often (its resolution)

MIXED = """\
\\set id random(1, :maxid)
BEGIN;
INSERT INTO accounts (full_name, email, balance, street, city)
  VALUES ('Bench User', 'b', 1.00, 'st', 'ci');
UPDATE accounts SET balance = balance + 1, city = 'moved' WHERE id = :id;
DELETE FROM accounts WHERE id = :id + 1;
END;
"""
LIVE = """\
\\set id random(1, :maxid)
UPDATE accounts SET balance = balance + 1 WHERE id = :id;
"""


def busy_core_s() -> float:
    """Core-seconds this whole machine has been busy (not idle, not waiting on I/O)
    since boot, from /proc/stat: both servers, the replayer and anything else."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timed:
    """The wall time of a `with` block and the machine's busy core-seconds in it. A
    side that keeps every core busy is bound by the cores: it cannot finish sooner
    than its core-seconds over the cores there are."""

    wall: float = 0.0
    cores: float = 0.0

    def __enter__(self) -> Timed:
        self._start, self._busy = time.monotonic(), busy_core_s()
        return self

    def __exit__(self, *_exc) -> None:
        self.wall = time.monotonic() - self._start
        self.cores = busy_core_s() - self._busy

    def busy(self) -> str:
        return (f"{self.cores:.1f} core-s, {self.cores / self.wall:.2f} of"
                f" {os.cpu_count()} cores busy")


@contextlib.contextmanager
def polling(cluster: Cluster, query: str, params: tuple = ()) -> Iterator[Callable[[], bool]]:
    """A check that `query` answers true, on one connection kept for all its polls:
    polled every 10 ms, a new connection each time would cost the cluster being
    timed a backend start per poll."""
    conn = cluster.connect()
    try:
        with conn.cursor() as cur:
            def check() -> bool:
                cur.execute(query, params)
                return bool(cur.fetchone()[0])
            yield check
    finally:
        conn.close()


def wait_until(what: str, check, deadline_s: float = DEADLINE_S, every: float = 0.02) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline_s:
            raise TimeoutError(f"{what} did not happen within {deadline_s}s")
        time.sleep(every)
    return time.monotonic() - start


def pgbench(cluster: Cluster, script: str, args: list[str], env: dict | None = None) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(
        ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
         "-f", fh.name, *args, "postgres"],
        capture_output=True, text=True, timeout=DEADLINE_S, check=True,
        env={**os.environ, **(env or {})})
    Path(fh.name).unlink()
    return out.stdout


def seed(blue: Cluster, rows: int) -> None:
    blue.sql("INSERT INTO accounts (full_name, email, balance, street, city)"
             " SELECT 'Seed Person ' || g, 'p' || g || '@example.org', g %% 10000 + 0.5,"
             " g || ' Main Street', 'Springfield' FROM generate_series(1, %s) g", (rows,))
    blue.sql("VACUUM ANALYZE accounts")  # every run's snapshot reads a table in one state


def insert_lsn(c: Cluster) -> int:
    return lsn_int(c.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])


# Every table of the subscription has its initial copy (and there is one).
SYNCED = ("SELECT count(*) > 0 AND count(*) FILTER (WHERE srsubstate <> 'r') = 0"
          " FROM pg_subscription_rel")


def snapshot_bench(blue, green, native, transform: Path) -> tuple[Timed, Timed]:
    replay = Replay(blue.dsn(), green.dsn(), load(transform), "gs_bench")
    with Timed() as ours:
        replay.start()
    replay.close()
    with polling(native, SYNCED) as synced, Timed() as theirs:
        native.sql(f"CREATE SUBSCRIPTION native_sub CONNECTION '{blue.dsn()}'"
                   " PUBLICATION native_pub WITH (copy_data = true)")
        wait_until("native table sync", synced)
    return ours, theirs


def backlog_bench(blue, green, native, changes: int, f: str) -> tuple[Timed, Timed, int]:
    native.sql("ALTER SUBSCRIPTION native_sub DISABLE")
    maxid = blue.sql("SELECT max(id) FROM accounts")[0][0]
    txns = max(1, changes // 3 // 2)
    pgbench(blue, MIXED, ["-c", "2", "-j", "2", "-t", str(txns), "-D", f"maxid={maxid}"])
    marker = blue.sql("INSERT INTO accounts (full_name, email) VALUES ('Backlog End',"
                      " 'marker') RETURNING id")[0][0]
    end = insert_lsn(blue)
    made = blue.sql("SELECT count(*) FROM accounts WHERE email = 'b'")[0][0]

    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORMS[f]), "gs_bench")
    with Timed() as ours:
        stats = replay.stream_changes(threading.Event(), until_lsn=end)
    replay.close()
    assert green.sql(f"SELECT count(*) FROM {GREEN_ACCOUNTS[f]} WHERE email = 'marker'"
                     )[0][0] == 1

    # The last commit, looked up by its key: a poll that costs native next to nothing
    # (by email it was a scan of 1M rows every 10 ms, a core of its own).
    with polling(native, "SELECT count(*) = 1 FROM accounts WHERE id = %s",
                 (marker,)) as arrived, Timed() as theirs:
        native.sql("ALTER SUBSCRIPTION native_sub ENABLE")
        wait_until("native catch-up", arrived, every=0.01)
    return ours, theirs, stats.changes or made * 3


def live_bench(blue, green, native, rate: int, seconds: int, transform: Path
               ) -> tuple[list[float], list[float], str]:
    """Lag of each side, in seconds, sampled every 10 ms: from blue's insert position
    at a moment to the first sample of the side holding it (greenswap: its position
    on green; native: the origin's remote_lsn on its subscriber, moved at each
    applied commit). pgbench commits with synchronous_commit on, as production
    does: the clusters run with it off, and then the WAL sender waits for the WAL
    writer (up to wal_writer_delay, 200 ms) before it may send a commit."""
    maxid = blue.sql("SELECT max(id) FROM accounts")[0][0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "replay", "run", "--source", blue.dsn(),
         "--target", green.dsn(), "--transform", str(transform), "--stream", "gs_bench"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, int]] = []
    applied: dict[str, list[tuple[float, int]]] = {"greenswap": [], "native": []}
    stop = threading.Event()
    positions = {
        "greenswap": (green, "SELECT lsn::text FROM greenswap.replay_position"
                             " WHERE stream = 'gs_bench'"),
        "native": (native, "SELECT max(remote_lsn)::text FROM pg_replication_origin_status"),
    }

    def sample() -> None:
        src = blue.connect()
        s_cur = src.cursor()
        sides = {name: (c.connect(), query) for name, (c, query) in positions.items()}
        while not stop.is_set():
            s_cur.execute("SELECT pg_current_wal_insert_lsn()::text")
            samples.append((time.monotonic(), lsn_int(s_cur.fetchone()[0])))
            for name, (conn, query) in sides.items():
                with conn.cursor() as cur:
                    cur.execute(query)
                    row = cur.fetchone()
                if row and row[0]:
                    applied[name].append((time.monotonic(), lsn_int(row[0])))
            time.sleep(SAMPLE_S)
        for conn, _query in sides.values():
            conn.close()
        src.close()

    sampler = threading.Thread(target=sample)
    try:
        time.sleep(1.0)  # the replayer connects and catches up
        sampler.start()
        out = pgbench(blue, LIVE, ["-c", "4", "-j", "2", "-R", str(rate), "-T", str(seconds),
                                   "-D", f"maxid={maxid}"],
                      env={"PGOPTIONS": "-c synchronous_commit=on"})
        time.sleep(2.0)  # let the tail drain, so every sample can be matched
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join(timeout=10)
        proc.terminate()
        proc.wait(timeout=30)
    tps = next((ln for ln in out.splitlines() if ln.startswith("tps")), "tps ?")
    return _lags(samples, applied["greenswap"]), _lags(samples, applied["native"]), tps


def _lags(samples: list[tuple[float, int]], applied: list[tuple[float, int]]) -> list[float]:
    lags = []
    for t, lsn in samples:
        done = next((ta for ta, la in applied if la >= lsn and ta >= t), None)
        if done is not None:
            lags.append(done - t)
    return lags


def reset(blue, green, native, rows: int) -> None:
    """Both streams gone and both targets empty, blue's seeded rows as they were:
    the next run starts from nothing, as the first did."""
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORMS["python"]), "gs_bench")
    try:
        replay.drop()
    finally:
        replay.close()
    native.sql("DROP SUBSCRIPTION IF EXISTS native_sub")  # and its slot on blue
    native.sql("TRUNCATE accounts")
    blue.sql("TRUNCATE accounts RESTART IDENTITY")  # the same ids, for the same changes
    seed(blue, rows)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def one_run(blue, green, native, a: argparse.Namespace, parts: list[str], f: str
            ) -> dict[str, float]:
    """One run of each part asked for, with f in SQL or Python; its figures by name
    (ratios: native / ours)."""
    figures = {}
    transform = TRANSFORMS[f]
    ours, theirs = snapshot_bench(blue, green, native, transform)
    snapshot = ours.wall
    rows = blue.sql("SELECT count(*) FROM accounts")[0][0]
    print(f"(b) snapshot {rows} rows: greenswap {snapshot:.2f}s ({rows / snapshot:,.0f} rows/s,"
          f" {ours.busy()}), native {theirs.wall:.2f}s ({theirs.busy()}); ratio"
          f" {theirs.wall / snapshot:.2f}x (goal >= 1.0x)", flush=True)
    figures["(b) snapshot ratio"] = theirs.wall / snapshot
    if "d" in parts:
        # As a rollout verifies: both sides as of one point in blue's log.
        replay = Replay(blue.dsn(), green.dsn(), load(transform), "gs_bench")
        try:
            checked = verify_at_point(replay)
        finally:
            replay.close()
        assert checked.ok, checked.mismatches[:3]
        print(f"(d) verify {rows} blue keys ({checked.keys:,} green rows): "
              f"{checked.seconds:.2f}s against the snapshot's {snapshot:.2f}s;"
              f" ratio {checked.seconds / snapshot:.2f}x (goal <= 1.0x)", flush=True)
        figures["(d) verify / snapshot"] = checked.seconds / snapshot
    if "a" in parts or "c" in parts:
        ours, theirs, n = backlog_bench(blue, green, native, a.changes, f)
        print(f"(a) backlog {n} changes: greenswap {ours.wall:.2f}s ({n / ours.wall:,.0f}/s,"
              f" {ours.busy()}), native {theirs.wall:.2f}s ({n / theirs.wall:,.0f}/s,"
              f" {theirs.busy()}); ratio {theirs.wall / ours.wall:.2f}x (goal >= 1.5x)",
              flush=True)
        figures["(a) backlog ratio"] = theirs.wall / ours.wall
    if "c" in parts:
        ours_lags, native_lags, tps = live_bench(blue, green, native, a.rate, a.live_seconds,
                                                 transform)
        if not ours_lags or not native_lags:
            raise SystemExit("(c) live: no lag samples matched")
        for name, lags in (("greenswap", ours_lags), ("native", native_lags)):
            print(f"(c) live at {a.rate} tps target ({tps.strip()}): {name} lag p50"
                  f" {statistics.median(lags) * 1000:.0f} ms, p99 {pct(lags, 0.99) * 1000:.0f}"
                  f" ms, max {max(lags) * 1000:.0f} ms over {len(lags)} samples"
                  " (goal p99 <= 250 ms)", flush=True)
            figures[f"(c) live lag p50 ms, {name}"] = statistics.median(lags) * 1000
            figures[f"(c) live lag p99 ms, {name}"] = pct(lags, 0.99) * 1000
    return figures


def pgbench_seed(blue: Cluster, scale: int) -> None:
    blue.sql("TRUNCATE " + ", ".join(PGBENCH_TABLES) + " RESTART IDENTITY")
    blue.sql((PGBENCH / "seed.sql").read_text().replace(":scale", str(scale)))
    blue.sql("VACUUM ANALYZE")


def pgbench_bench(blue, green, native, txns: int, transform: Path) -> tuple[Timed, Timed, int]:
    """(e): the stream and the native subscription start at one state of blue (each
    from its own copy), then `txns` pgbench transactions wait in both slots."""
    replay = Replay(blue.dsn(), green.dsn(), load(transform), "gs_pgbench")
    try:
        replay.start()
    finally:
        replay.close()
    native.sql(f"CREATE SUBSCRIPTION native_sub CONNECTION '{blue.dsn()}'"
               " PUBLICATION native_pub WITH (copy_data = true)")
    wait_until("native table sync", lambda: native.sql(
        "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")[0][0] == 0)
    native.sql("ALTER SUBSCRIPTION native_sub DISABLE")
    pgbench(blue, (PGBENCH / "blue.pgbench").read_text(),
            ["-c", "4", "-j", "2", "-t", str(max(1, txns // 4)), "-D", "scale=1"])
    marker = blue.sql("INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 1, 1, %s)"
                      " RETURNING hid", (PGBENCH_MARKER,))[0][0]
    end = insert_lsn(blue)
    made = blue.sql("SELECT count(*) FROM pgbench_history")[0][0]

    replay = Replay(blue.dsn(), green.dsn(), load(transform), "gs_pgbench")
    try:
        with Timed() as ours:
            replay.stream_changes(threading.Event(), until_lsn=end)
    finally:
        replay.close()
    assert green.sql("SELECT count(*) FROM history WHERE delta_cents = %s",
                     (PGBENCH_MARKER * 100,))[0][0] == 1
    with polling(native, "SELECT count(*) = 1 FROM pgbench_history WHERE hid = %s",
                 (marker,)) as arrived, Timed() as theirs:  # as in backlog_bench
        native.sql("ALTER SUBSCRIPTION native_sub ENABLE")
        wait_until("native catch-up", arrived, every=0.01)
    return ours, theirs, made


def pgbench_reset(blue, green, native) -> None:
    replay = Replay(blue.dsn(), green.dsn(), load(PGBENCH_TRANSFORMS["python"]), "gs_pgbench")
    try:
        replay.drop()
    finally:
        replay.close()
    native.sql("DROP SUBSCRIPTION IF EXISTS native_sub")
    native.sql("TRUNCATE " + ", ".join(PGBENCH_TABLES))
    green.sql("TRUNCATE branches, tellers, accounts, account_notes, history")
    pgbench_seed(blue, 1)


def start_clusters(prefix: str, app: Path) -> tuple[Cluster, Cluster, Cluster]:
    """Blue and native on `app`'s v1 schema, green on its v2."""
    blue = Cluster(f"{prefix}-blue", {"max_connections": "100"})
    green, native = Cluster(f"{prefix}-green"), Cluster(f"{prefix}-native")
    for c in (blue, green, native):
        c.start()
    blue.sql((app / "schema_v1.sql").read_text())
    native.sql((app / "schema_v1.sql").read_text())
    green.sql((app / "schema_v2.sql").read_text())
    if app == APP:  # --f mirror's target: blue's shape, as native's
        green.sql("CREATE SCHEMA mirror; SET search_path TO mirror; "
                  + (app / "schema_v1.sql").read_text())
    return blue, green, native


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--live-seconds", type=int, default=20)
    parser.add_argument("--pgbench-txns", type=int, default=48_000)
    parser.add_argument("--parts", default="b,d,a,c,e",
                        help="which measurements, in this order (a and c need b first)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--f", default="sql,python,mirror",
                        help="f in sql, python, mirror (SQL, blue's shape; not for e)")
    a = parser.parse_args()
    parts, kinds = a.parts.split(","), a.f.split(",")
    if set(kinds) - set(TRANSFORMS):
        parser.error(f"--f: {', '.join(sorted(set(kinds) - set(TRANSFORMS)))} is not one of"
                     f" {', '.join(TRANSFORMS)}")
    runs: dict[str, list[float]] = {}
    clusters: list[Cluster] = []
    try:
        if set(parts) - {"e"}:
            blue, green, native = start_clusters("bench", APP)
            clusters += [blue, green, native]
            seed(blue, a.rows)
            blue.sql("CREATE PUBLICATION native_pub FOR TABLE accounts")
            for run in range(1, a.runs + 1):
                for f in kinds:
                    if runs:
                        reset(blue, green, native, a.rows)
                    print(f"-- run {run} of {a.runs}, f in {f}", flush=True)
                    for figure, value in one_run(blue, green, native, a, parts, f).items():
                        runs.setdefault(f"{figure}, f in {f}", []).append(value)
        if "e" in parts:
            blue, green, native = start_clusters("pgb", PGBENCH)
            clusters += [blue, green, native]
            pgbench_seed(blue, 1)
            blue.sql("CREATE PUBLICATION native_pub FOR TABLE " + ", ".join(PGBENCH_TABLES))
            for run in range(1, a.runs + 1):
                for i, f in enumerate(k for k in kinds if k in PGBENCH_TRANSFORMS):
                    if run > 1 or i:
                        pgbench_reset(blue, green, native)
                    ours, theirs, n = pgbench_bench(blue, green, native, a.pgbench_txns,
                                                    PGBENCH_TRANSFORMS[f])
                    print(f"(e) pgbench backlog, run {run}, f in {f}: {n:,} transactions on"
                          f" hot rows: greenswap {ours.wall:.2f}s ({n / ours.wall:,.0f} txn/s,"
                          f" {ours.busy()}), native {theirs.wall:.2f}s ({theirs.busy()});"
                          f" ratio {theirs.wall / ours.wall:.2f}x (goal >= 1.5x)", flush=True)
                    runs.setdefault(f"(e) pgbench backlog ratio, f in {f}", []).append(
                        theirs.wall / ours.wall)
        print(f"-- median of {a.runs} run(s):")
        for figure, values in runs.items():
            print(f"   {figure}: {statistics.median(values):.2f}"
                  f" ({', '.join(f'{v:.2f}' for v in values)})")
    finally:
        for c in clusters:
            c.destroy()


if __name__ == "__main__":
    main()
