"""A long writing transaction on the old side at the cutover, on a real PostgreSQL:
it is waited for within the deadline, or the cutover does not start; it is never
ended by the fence unseen, and never lost."""

from __future__ import annotations

import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from orchestrator.config import Cutover
from orchestrator.db.fence import Fence
from orchestrator.errors import CutoverAborted
from orchestrator.swap.cutover import wait_for_long_writers
from tests.pg import Cluster

SETTINGS = Cutover(lag_threshold_bytes=0, max_pause_ms=300, deadline_ms=1500)


class OneSide:
    """The swap's view of the old side: only what the wait asks."""

    def __init__(self, fence: Fence) -> None:
        self.fence = fence

    def long_writers(self, color: str, older_than_s: float) -> list[str]:
        return self.fence.long_writers(older_than_s)


@pytest.fixture(scope="module")
def blue():
    cluster = Cluster("blue").start()
    cluster.sql("CREATE ROLE batch LOGIN; CREATE TABLE ledger (id int PRIMARY KEY);"
                " GRANT INSERT, SELECT ON ledger TO batch")
    yield cluster
    cluster.destroy()


def open_writer(blue: Cluster, row: int):
    conn = psycopg2.connect(blue.dsn().replace("user=postgres", "user=batch"),
                            application_name="nightly-batch")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ledger VALUES (%s)", (row,))  # an xid: it has written
    return conn


def test_a_transaction_that_ends_in_time_is_waited_for(blue):
    fence = Fence(blue.dsn())
    writer = open_writer(blue, 1)
    time.sleep(0.5)
    assert fence.long_writers(0.3) and "batch nightly-batch" in fence.long_writers(0.3)[0]
    threading.Timer(0.5, writer.commit).start()
    began = time.monotonic()
    wait_for_long_writers(OneSide(fence), "blue", SETTINGS)
    assert 0.3 < time.monotonic() - began < 1.5
    assert blue.sql("SELECT id FROM ledger WHERE id = 1") == [(1,)]
    writer.close()
    fence.conn.close()


def test_a_transaction_past_the_deadline_stops_the_cutover_and_survives(blue):
    fence = Fence(blue.dsn())
    writer = open_writer(blue, 2)
    time.sleep(0.4)
    with pytest.raises(CutoverAborted, match="kept writing past cutover.deadline_ms: pid"):
        wait_for_long_writers(OneSide(fence), "blue", SETTINGS)
    writer.commit()  # not ended by anyone: its client commits it
    assert blue.sql("SELECT id FROM ledger WHERE id = 2") == [(2,)]
    writer.close()
    fence.conn.close()


def test_greenswaps_own_sessions_are_not_waited_for(blue):
    fence = Fence(blue.dsn())
    own = blue.connect()
    own.autocommit = False
    with own.cursor() as cur:
        cur.execute("INSERT INTO ledger VALUES (3)")
    time.sleep(0.4)
    assert fence.long_writers(0.3) == []  # the fence does not end them either
    own.rollback()
    own.close()
    fence.conn.close()


def test_the_fence_ends_other_sessions_and_every_new_one_is_read_only(blue):
    """The fence's read-only default reaches every session started after it, and
    ends those already there. Here greenswap's stand-in is the cluster's superuser;
    tests/faults/test_db_role.py runs the fence as the real, non-superuser role. (A
    reload takes about a millisecond, so this cannot catch a fence that did not
    wait for it.)"""
    idle = psycopg2.connect(blue.dsn().replace("user=postgres", "user=batch"))
    fence = Fence(blue.dsn())
    try:
        fence.fence()
        with pytest.raises(psycopg2.OperationalError):  # ended by the fence
            idle.cursor().execute("SELECT 1")
        late = psycopg2.connect(blue.dsn().replace("user=postgres", "user=batch"))
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            late.cursor().execute("INSERT INTO ledger VALUES (100)")
        late.close()
        fence.unfence()
        again = psycopg2.connect(blue.dsn().replace("user=postgres", "user=batch"))
        with again.cursor() as cur:
            cur.execute("INSERT INTO ledger VALUES (101)")
        again.commit()
        again.close()
    finally:
        fence.unfence()
        fence.close()
        idle.close()
