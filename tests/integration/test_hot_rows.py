"""Verify at one point in the log, on a live source with hot rows (examples/stock).

Four clients update a few counter rows many times a second, each transaction also
inserting a uuid-keyed move and an audit line, before, during and after every
verify, forward (blue under load) and then reverse (green under load, after the
cutover's data steps). Verify must find no mismatch, five times each way; and a
row changed on the target behind the replayer's back must be named, with its
columns and both values.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from orchestrator import config
from orchestrator.db.mismatch import CAUSE_OUTSIDE, CAUSE_TRANSFORM
from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.sync import Sync
from orchestrator.db.transform import load
from orchestrator.errors import VerifyFailed
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.swap.database import DatabaseSwap
from orchestrator.swap.fakes import FakeRecorder, fake_parts
from tests.conftest import _clusters
from tests.hot_rows import BLUE_COUNTERS, GREEN_COUNTERS, SEED, HotRows, counters_match
from tests.sample_app import STOCK

TRANSFORM = STOCK / "transform.py"
RUNS = 5


@pytest.fixture
def stock():
    yield from _clusters(STOCK, SEED)


@contextmanager
def forward_sync(blue, green, tmp_path, base: str):
    """A rollout's Sync of the two clusters, its forward stream running and past its
    snapshot; every stream stopped at the end."""
    dsns = {"blue": blue.dsn(), "green": green.dsn()}
    sync = Sync(dsns.__getitem__, TRANSFORM, base, tmp_path / "logs", "postgres")
    try:
        sync.start("forward")
        deadline = time.monotonic() + 60
        while sync.position("forward") is None:
            assert sync.running("forward"), sync.failure("forward")
            assert time.monotonic() < deadline, "no position within 60 s"
            time.sleep(0.1)
        yield sync
    finally:
        for direction in ("forward", "reverse"):
            sync.stop(direction)
        sync.close()


def drain(source, target, direction: str, stream: str) -> None:
    """Writers stopped: replay to the source's end, as a cutover's catch-up does."""
    end = source.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    replay = Replay(source.dsn(), target.dsn(), load(TRANSFORM), stream, direction)
    try:
        replay.stream_changes(threading.Event(), lsn_int(end), fast=True)
    finally:
        replay.close()


def verified_under_load(sync: Sync, direction: str, source, seed: int) -> int:
    """RUNS verifies of `direction` while the hot-row load runs on its source, every
    one at one point in the log and clean; then the load and the stream stop.
    Returns the load's transactions."""
    side = "blue" if direction == "forward" else "green"
    with HotRows(source.dsn(), side, seed=seed) as load_run:
        for run in range(RUNS):
            time.sleep(0.5)
            result = sync.verify(direction)
            assert result.ok, (run, result.summary(), f"{load_run.rate:.0f} txn/s")
            assert result.keys > 0 and result.lsn is not None
        done = load_run.finish()
    assert done > 200
    sync.stop(direction)
    return done


def test_hot_rows_verify_forward_and_reverse_under_load(stock, tmp_path):
    blue, green = stock
    with forward_sync(blue, green, tmp_path, "gs_hot") as sync:
        forward_done = verified_under_load(sync, "forward", blue, seed=1)
        drain(blue, green, "forward", sync.stream("forward"))
        counters_match(blue.sql(BLUE_COUNTERS))
        counters_match(green.sql(GREEN_COUNTERS))

        # The cutover's data steps: forward dropped, sequences carried, reverse anchored.
        sync.drop("forward")
        sync.sequences("forward")
        sync.anchor("reverse")
        sync.start("reverse")
        reverse_done = verified_under_load(sync, "reverse", green, seed=2)
        drain(green, blue, "reverse", sync.stream("reverse"))
        counters_match(blue.sql(BLUE_COUNTERS))
        counters_match(green.sql(GREEN_COUNTERS))
        assert blue.sql("SELECT count(*) FROM moves") == [(forward_done + reverse_done,)]


def test_a_row_changed_on_green_behind_the_replayer_is_named_with_its_values(stock, tmp_path):
    blue, green = stock
    with forward_sync(blue, green, tmp_path, "gs_plant") as sync:
        with HotRows(blue.dsn(), "blue", seed=3):
            time.sleep(0.5)
            assert sync.verify("forward").ok
            # A writer on green that is not the replayer: the cold product's name.
            green.sql("UPDATE stock_levels SET name = 'tampered' WHERE sku = 'D'")
            time.sleep(0.5)
            result = sync.verify("forward")
            recorder = FakeRecorder()
            swapper = DatabaseSwap(fake_parts(config.load(STOCK / "rollout.yml"),
                                              FakeLoadBalancer(), sync, tmp_path, recorder))
            with pytest.raises(VerifyFailed) as failed:
                swapper.verify()  # the rollout's verify phase
        assert [m.brief() for m in result.mismatches] == ["stock_levels['D'] (name)"]
        m = result.mismatches[0]
        assert (m.kind, m.columns, m.cause) == ("differs", ("name",), CAUSE_OUTSIDE)
        assert (m.expected["name"], m.actual["name"], m.source["name"]) == (
            "item D", "tampered", "item D")
        assert str(failed.value).startswith(
            "green differs from f(blue) at 1 key(s): stock_levels['D'] (name)")
        assert "written outside replay" in failed.value.hint
        assert "transform" not in failed.value.hint
        (phase, kind, message, data), = recorder.events
        assert (phase, kind) == ("verify", "mismatch")
        assert data["rows"][0]["actual"]["name"] == "tampered"
        assert data["rows"][0]["expected"]["name"] == "item D"


def test_a_transform_that_changed_since_the_copy_is_named_as_the_cause(stock, tmp_path):
    """A key no change has touched since the copy, whose f(blue) now differs from what
    the copy wrote: the transform is the likely cause, and the hint says so."""
    blue, green = stock
    changed = tmp_path / "transform.py"
    changed.write_text(TRANSFORM.read_text().replace(
        '"name": row["name"], "on_hand"', '"name": row["name"].upper(), "on_hand"'))
    with forward_sync(blue, green, tmp_path, "gs_changed") as sync:
        with HotRows(blue.dsn(), "blue", seed=4):
            time.sleep(0.5)
            sync.transform_path = changed  # as if the file was edited mid-rollout
            sync.__dict__.pop("transform", None)  # its cached_property
            result = sync.verify("forward")
        cold = [m for m in result.mismatches if m.key == ("D",)]
        assert [(m.columns, m.cause) for m in cold] == [(("name",), CAUSE_TRANSFORM)]
        assert "transform is the likely cause" in result.next_step()


def test_replay_verify_by_hand_takes_the_stream_to_its_point_and_shows_the_rows(stock):
    blue, green = stock
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_cli")
    try:
        replay.start()
    finally:
        replay.close()
    green.sql("UPDATE stock_levels SET on_hand = 7 WHERE sku = 'B'")
    with HotRows(blue.dsn(), "blue", seed=5, max_txns=300) as load_run:
        load_run.finish()

    def replay_verify(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "replay", "verify", "--blue", blue.dsn(),
             "--green", green.dsn(), "--transform", str(TRANSFORM), *extra],
            capture_output=True, text=True, timeout=120)

    done = replay_verify("--stream", "gs_cli", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == (1 if report["mismatches"] else 0), done.stderr
    assert report["at_lsn"] is not None
    # B was moved by the load since (replay rewrote it), or not: either way green's
    # planted 7 is gone or named, and nothing else differs.
    for m in report["mismatches"]:
        assert (m["table"], m["key"], m["columns"]) == ("stock_levels", ["B"], ["on_hand"])
        assert m["actual"]["on_hand"] == 7 and m["source"]["qty"] == m["expected"]["on_hand"]
    green.sql("UPDATE stock_levels SET on_hand = 9999 WHERE sku = 'D'")
    shown = replay_verify("--stream", "gs_cli")
    assert shown.returncode == 1
    assert "stock_levels['D']: differs in on_hand; green was written outside replay" in shown.stderr
    assert "on_hand: green has 9999, f(blue) gives 0" in shown.stderr
    # No stream of that name on green: one line that points at --at-once.
    missing = replay_verify("--stream", "gs_nothing")
    assert missing.returncode != 0
    assert "--at-once" in missing.stderr and "Traceback" not in missing.stderr
    assert replay_verify("--at-once").returncode == 1  # still the planted row
