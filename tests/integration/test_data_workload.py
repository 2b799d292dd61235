"""A foreign schema under a foreign workload: pgbench's tables and transaction, with
four clients, each transaction touching four tables of different keys, while the
replayer is SIGKILLed at random points and restarted. Forward (blue under
pgbench, TOASTed notes rewritten and left unchanged concurrently), then a cutover's
sequence sync (a renamed sequence), then reverse (green under pgbench, through g).
Verify must find no mismatch either way.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.db.check import check
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from tests.conftest import _clusters
from tests.integration.test_replay import replayer, stderr_of
from tests.pg import PG_BIN, Cluster

PGBENCH = Path(__file__).resolve().parents[2] / "examples" / "pgbench"
TRANSFORM = PGBENCH / "transform.py"
SCALE = 2
SECONDS = 8
KILLS = 4


def pgbench(cluster: Cluster, script: str, seconds: int = SECONDS) -> subprocess.Popen:
    """pgbench with 4 clients for `seconds` (its own bound), on loopback."""
    return subprocess.Popen(
        [str(PG_BIN / "pgbench"), "-n", "-c", "4", "-j", "2", "-T", str(seconds),
         "-D", f"scale={SCALE}", "-f", str(PGBENCH / script),
         "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "postgres"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def transactions(run: subprocess.Popen) -> int:
    out, _ = run.communicate(timeout=SECONDS + 60)
    assert run.returncode == 0, out
    line = next(ln for ln in out.splitlines() if "transactions actually processed" in ln)
    return int(line.split(":")[1].split("/")[0])


def under_kills(source: Cluster, target: Cluster, direction: str, stream: str,
                script: str, seed: int) -> int:
    """Run pgbench on the source while the replayer is killed KILLS times; then let
    a last replayer reach the source's end. Returns pgbench's transaction count."""
    rng = random.Random(seed)
    proc = replayer(source, target, direction, stream, transform=TRANSFORM)
    load_run = pgbench(source, script)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, SECONDS / KILLS))
            assert proc.poll() is None, stderr_of(proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = replayer(source, target, direction, stream, transform=TRANSFORM)
        done = transactions(load_run)
    finally:
        if load_run.poll() is None:
            load_run.kill()
            load_run.wait(timeout=10)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    end = source.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    final = replayer(source, target, direction, stream, until=end, transform=TRANSFORM)
    assert final.wait(timeout=180) == 0, stderr_of(final)
    return done


@pytest.fixture
def bank():
    yield from _clusters(PGBENCH, (PGBENCH / "seed.sql").read_text().replace(":scale",
                                                                             str(SCALE)))


def test_pgbench_forward_and_reverse_under_kills_lose_nothing(bank):
    blue, green = bank
    transform = load(TRANSFORM)
    toasted = blue.sql("SELECT count(*) FROM pgbench_accounts"
                       " WHERE pg_column_size(notes) > 2000")[0][0]
    assert toasted > 100  # stored out of line: unchanged in the log when others change

    done = under_kills(blue, green, "forward", "gs_bench_f", "blue.pgbench", seed=11)
    assert done > 200
    forward = verify(blue.dsn(), green.dsn(), transform, "forward")
    assert forward.ok, forward.mismatches[:5]
    assert green.sql("SELECT count(*) FROM history") == [(done,)]

    # The cutover's data steps, writers stopped: forward drained and dropped, the
    # renamed sequence carried over, reverse anchored.
    cutover = Replay(blue.dsn(), green.dsn(), transform, "gs_bench_f")
    try:
        assert cutover.sequences_following() == ["public.history_hid_seq"]
        assert cutover.sync_sequences() == {"public.history_hid_seq": done}
        cutover.drop()
    finally:
        cutover.close()
    reverse = Replay(green.dsn(), blue.dsn(), transform, "gs_bench_r", "reverse")
    try:
        assert reverse.start() is not None
    finally:
        reverse.close()

    more = under_kills(green, blue, "reverse", "gs_bench_r", "green.pgbench", seed=12)
    assert more > 200
    backward = verify(blue.dsn(), green.dsn(), transform, "reverse")
    assert backward.ok, backward.mismatches[:5]
    assert blue.sql("SELECT count(*) FROM pgbench_history") == [(done + more,)]
    # A rollback carries the renamed sequence back: blue hands out no used key.
    rollback = Replay(green.dsn(), blue.dsn(), transform, "gs_bench_r", "reverse")
    try:
        assert rollback.sync_sequences() == {"public.pgbench_history_hid_seq": done + more}
    finally:
        rollback.close()


def test_pgbench_sql_f_equals_its_python_reference_and_round_trips(bank):
    """Branches, tellers and history replay through SQL, accounts through Python:
    `transform check` proves each SQL f equal to the Python f it replaced, on
    pgbench's own rows and on generated ones (history's times among them)."""
    blue, green = bank
    blue.sql("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES"
             " (1, 1, 1, -5000, '2026-12-07 10:11:12.5'), (2, 1, 2, 7, 'infinity')")
    transform = load(TRANSFORM)
    assert sorted(t for t, tt in transform.tables.items() if tt.sql is not None) == [
        "pgbench_branches", "pgbench_history", "pgbench_tellers"]
    reports = check(transform, blue.dsn(), green.dsn(), samples=100, examples=100)
    assert {r.table: r.sampled > 0 and r.generated > 0 for r in reports} == dict.fromkeys(
        transform.tables, True)
