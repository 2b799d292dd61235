"""Verify at one point in the log, on a live source with hot rows (examples/stock).

Four clients update a few counter rows many times a second, each transaction also
inserting a uuid-keyed move and an audit line, before, during and after every
verify, forward (blue under load) and then reverse (green under load, after the
cutover's data steps). Verify must find no mismatch, five times each way; and a
row changed on the target behind the replayer's back must be named, with its
columns and both values.
"""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.sync import Sync
from orchestrator.db.transform import load
from tests.conftest import _clusters
from tests.hot_rows import BLUE_COUNTERS, GREEN_COUNTERS, SEED, HotRows, counters_match
from tests.sample_app import STOCK

TRANSFORM = STOCK / "transform.py"
RUNS = 5


@pytest.fixture
def stock():
    yield from _clusters(STOCK, SEED)


def sync_of(blue, green, tmp_path, base: str) -> Sync:
    dsns = {"blue": blue.dsn(), "green": green.dsn()}
    return Sync(dsns.__getitem__, TRANSFORM, base, tmp_path / "logs", "postgres")


def wait_for_position(sync: Sync, direction: str) -> None:
    deadline = time.monotonic() + 60
    while sync.position(direction) is None:
        assert sync.running(direction), sync.failure(direction)
        assert time.monotonic() < deadline, "no position within 60 s"
        time.sleep(0.1)


def drain(source, target, direction: str, stream: str) -> None:
    """Writers stopped: replay to the source's end, as a cutover's catch-up does."""
    end = source.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    replay = Replay(source.dsn(), target.dsn(), load(TRANSFORM), stream, direction)
    try:
        replay.stream_changes(threading.Event(), lsn_int(end), fast=True)
    finally:
        replay.close()


def test_hot_rows_verify_forward_and_reverse_under_load(stock, tmp_path):
    blue, green = stock
    sync = sync_of(blue, green, tmp_path, "gs_hot")
    try:
        sync.start("forward")
        wait_for_position(sync, "forward")
        with HotRows(blue.dsn(), "blue", seed=1) as load_run:
            for run in range(RUNS):
                time.sleep(0.5)
                result = sync.verify("forward")
                assert result.ok, (run, result.summary(), f"{load_run.rate:.0f} txn/s")
                assert result.keys > 0 and result.lsn is not None
            forward_done = load_run.finish()
        assert forward_done > 200
        sync.stop("forward")
        drain(blue, green, "forward", sync.stream("forward"))
        counters_match(blue.sql(BLUE_COUNTERS))
        counters_match(green.sql(GREEN_COUNTERS))

        # The cutover's data steps: forward dropped, sequences carried, reverse anchored.
        sync.drop("forward")
        sync.sequences("forward")
        sync.anchor("reverse")
        sync.start("reverse")
        with HotRows(green.dsn(), "green", seed=2) as load_run:
            for run in range(RUNS):
                time.sleep(0.5)
                result = sync.verify("reverse")
                assert result.ok, (run, result.summary(), f"{load_run.rate:.0f} txn/s")
            reverse_done = load_run.finish()
        assert reverse_done > 200
        sync.stop("reverse")
        drain(green, blue, "reverse", sync.stream("reverse"))
        counters_match(blue.sql(BLUE_COUNTERS))
        counters_match(green.sql(GREEN_COUNTERS))
        assert blue.sql("SELECT count(*) FROM moves") == [(forward_done + reverse_done,)]
    finally:
        for direction in ("forward", "reverse"):
            sync.stop(direction)
        sync.close()
