"""A commit is decoded before other sessions can see it (DESIGN.md, "facts learned the
hard way"). Replay must never read a state older than the transaction it replays.

The race is made deterministic: green (the source of reverse replay) names a
synchronous standby that does not exist, so a commit's record is flushed and
decoded, but the committing session waits in SyncRep and its effects stay
invisible to everyone else until that wait is cancelled.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from orchestrator.db import lag
from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from tests.integration.test_replay import TRANSFORM, replayer, stderr_of
from tests.pg import Cluster

HOLD_S = 3.0


def wait_until(what: str, check, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {deadline_s:g}s"
        time.sleep(0.05)


def reverse_from_cutover(blue: Cluster, green: Cluster, stream: str) -> None:
    """Blue and green equal through f, forward dropped, reverse anchored: a cutover."""
    blue.sql("INSERT INTO accounts (full_name, email, balance, street, city) SELECT"
             " 'Seed ' || g, 'e' || g, g, 'st', 'ci' FROM generate_series(1, 50) g")
    forward = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_race_f")
    try:
        forward.start()
        forward.drop()
    finally:
        forward.close()
    green.sql("SELECT setval('accounts_id_seq', (SELECT max(id) FROM accounts))")
    reverse = Replay(green.dsn(), blue.dsn(), load(TRANSFORM), stream, "reverse")
    try:
        assert reverse.start() is not None
    finally:
        reverse.close()


def hold_commits(cluster: Cluster, on: bool) -> None:
    names = "'phantom'" if on else "''"
    cluster.sql(f"ALTER SYSTEM SET synchronous_standby_names = {names}")
    cluster.sql("SELECT pg_reload_conf()")
    wait_until("the server re-reads its settings", lambda: cluster.sql(
        "SHOW synchronous_standby_names") == [(names.strip("'"),)])


def commit_held(green: Cluster, writer) -> tuple[threading.Thread, int]:
    """Start a commit on `writer` that waits for the phantom standby: flushed and
    decoded, invisible to other sessions until the hold ends. Returns its thread
    and its backend's pid."""
    hold_commits(green, on=True)
    pid = writer.get_backend_pid()
    cur = writer.cursor()
    cur.execute("SET synchronous_commit = on")
    committing = threading.Thread(target=cur.execute, args=(
        "UPDATE accounts SET balance_cents = 4242 WHERE id = 1",))
    committing.start()
    wait_until("the commit waits for the phantom standby", lambda: green.sql(
        "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)) == [("SyncRep",)])
    return committing, pid


def test_a_commit_decoded_before_it_is_visible_still_reaches_blue(clusters):
    blue, green = clusters
    reverse_from_cutover(blue, green, "gs_race")
    proc = replayer(green, blue, "reverse", "gs_race")
    writer = green.connect()
    committing = threading.Thread()
    try:
        # The replayer streams: an ordinary write comes through.
        green.sql("UPDATE accounts SET balance_cents = 111 WHERE id = 2")
        wait_until("a plain write replayed", lambda: blue.sql(
            "SELECT balance FROM accounts WHERE id = 2") == [(Decimal("1.11"),)])

        committing, pid = commit_held(green, writer)
        committed_at = green.sql("SELECT pg_current_wal_flush_lsn()::text")[0][0]

        # Decoded, not visible: the replayer must neither write the old row as if it
        # were this change's result, nor report the position as applied.
        time.sleep(HOLD_S)
        assert proc.poll() is None, stderr_of(proc)
        held = lag.sample(green.dsn(), blue.dsn(), "gs_race")
        assert held.applied_lsn < lsn_int(committed_at), (
            "the position moved past a commit nobody could see yet")
        assert held.bytes > 0, "status says caught up while a commit is not applied"

        green.sql("SELECT pg_cancel_backend(%s)", (pid,))  # the commit becomes visible
        committing.join(timeout=10)
        hold_commits(green, on=False)
        end = green.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        wait_until("reverse replay reaches the end", lambda: lag.sample(
            green.dsn(), blue.dsn(), "gs_race").applied_lsn >= lsn_int(end))
        assert blue.sql("SELECT balance FROM accounts WHERE id = 1") == [(Decimal("42.42"),)]
        result = verify(blue.dsn(), green.dsn(), load(TRANSFORM), "reverse")
        assert result.ok, result.mismatches[:3]
    finally:
        hold_commits(green, on=False)  # releases a commit still waiting, if any
        writer.close()
        proc.kill()
        proc.wait(timeout=10)


def test_a_commit_that_stays_invisible_stops_replay_at_the_deadline(clusters):
    # Every wait has a deadline: a transaction that never becomes visible (a standby
    # that never confirms) stops the replay, naming it; nothing of it is written and
    # the position stays before it, so a later run resumes there.
    from orchestrator.errors import ReplayError

    blue, green = clusters
    reverse_from_cutover(blue, green, "gs_stuck")
    replay = Replay(green.dsn(), blue.dsn(), load(TRANSFORM), "gs_stuck", "reverse")
    replay.source.visible_deadline_s = 1.0
    before = replay.target.position()
    writer = green.connect()
    committing = threading.Thread()
    try:
        committing, _ = commit_held(green, writer)
        end = lsn_int(green.sql("SELECT pg_current_wal_flush_lsn()::text")[0][0])
        with pytest.raises(ReplayError) as err:
            replay.stream_changes(threading.Event(), until_lsn=end)
        assert replay.target.position() == before
    finally:
        hold_commits(green, on=False)
        committing.join(timeout=10)
        writer.close()
        replay.close()
    line = err.value.one_line()
    assert "other sessions still cannot see it after 1s" in line
    assert "synchronous standbys" in line and "\n" not in line
    assert blue.sql("SELECT balance FROM accounts WHERE id = 1") == [(Decimal("1.00"),)]
