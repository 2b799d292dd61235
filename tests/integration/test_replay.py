"""The replay engine on real PostgreSQL clusters on loopback.

A mixed workload (inserts, updates, deletes, key changes, large TOASTed values, a
truncate) runs on the source while the replayer, a process of its own, is killed
with SIGKILL at random points and restarted. At the end, verify must find the
target exactly equal to the transform of the source: no duplicate, no gap.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from orchestrator.errors import ReplayRefused
from tests.pg import Cluster

APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"
TRANSFORM = APP / "transform.py"
KILLS = 5


def replayer(source: Cluster, target: Cluster, direction: str, stream: str,
             until: str | None = None, transform: Path = TRANSFORM) -> subprocess.Popen:
    args = [sys.executable, "-m", "orchestrator.cli", "replay", "run",
            "--source", source.dsn(), "--target", target.dsn(), "--transform", str(transform),
            "--direction", direction, "--stream", stream]
    if until:
        args += ["--until-lsn", until]
    # stderr to a file, not a pipe: nobody reads a killed replayer's pipe, and a full
    # one would block the next.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, text=True)
    proc.log = log
    return proc


def stderr_of(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read()


def blue_workload(blue: Cluster, ops: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    conn = blue.connect()
    cur = conn.cursor()
    deadline = time.monotonic() + 60
    for i in range(ops):
        if stop.is_set() or time.monotonic() > deadline:
            break
        roll = rng.random()
        if roll < 0.35:
            cur.execute("INSERT INTO accounts (full_name, email, balance, street, city) VALUES"
                        " (%s, %s, %s, 's', 'c')",
                        (rng.choice(["Ada Lovelace", "Cher", "Jean  Paul", "X "]), f"u{i}",
                         rng.randint(0, 10**6) / 100))
        elif roll < 0.6:
            cur.execute("UPDATE accounts SET balance = balance + 1, full_name = full_name || 'y'"
                        " WHERE id = (SELECT id FROM accounts ORDER BY random() LIMIT 1)")
        elif roll < 0.7:
            cur.execute("UPDATE accounts SET id = id + 1000000 WHERE id = (SELECT min(id) FROM"
                        " accounts WHERE id < 1000000)")
        elif roll < 0.8:
            cur.execute("DELETE FROM accounts WHERE id = (SELECT id FROM accounts ORDER BY"
                        " random() LIMIT 1)")
        elif roll < 0.9:
            # Large, incompressible: stored out of line (TOAST); later updates of other
            # columns leave it unchanged in the log.
            cur.execute("UPDATE accounts SET street = (SELECT string_agg(md5(random()::text),"
                        " '') FROM generate_series(1, 300)) WHERE id = (SELECT id FROM accounts"
                        " ORDER BY random() LIMIT 1)")
        else:
            cur.execute("UPDATE accounts SET city = 'moved' WHERE length(street) > 1000"
                        " AND id IN (SELECT id FROM accounts ORDER BY random() LIMIT 3)")
        if i == ops // 3:
            cur.execute("BEGIN; TRUNCATE accounts; INSERT INTO accounts (full_name, email)"
                        " SELECT 'After Truncate', 'a' || g FROM generate_series(1, 200) g;"
                        " COMMIT")
    conn.close()


def run_with_kills(source, target, direction, stream, workload,
                   transform: Path = TRANSFORM) -> None:
    rng = random.Random(7)
    stop = threading.Event()
    writer = threading.Thread(target=workload, args=(stop,))
    proc = replayer(source, target, direction, stream, transform=transform)
    writer.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            assert proc.poll() is None, stderr_of(proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = replayer(source, target, direction, stream, transform=transform)
        writer.join(timeout=90)
        assert not writer.is_alive()
    finally:
        stop.set()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    end = source.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    final = replayer(source, target, direction, stream, until=end, transform=transform)
    assert final.wait(timeout=120) == 0, stderr_of(final)


# The example's f is SQL; the same f in Python (its reference) must converge alike.
PYTHON_F = Path(__file__).resolve().parents[1] / "data" / "sample_app_python.py"


@pytest.mark.parametrize("transform", [TRANSFORM, PYTHON_F], ids=["sql-f", "python-f"])
def test_forward_replay_survives_sigkill_and_converges(clusters, transform):
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email, balance, street, city) SELECT"
             " 'Seed ' || g, 'e' || g, g, 'st', 'ci' FROM generate_series(1, 3000) g")
    run_with_kills(blue, green, "forward", "gs_fwd",
                   lambda stop: blue_workload(blue, 1500, seed=1, stop=stop), transform)
    result = verify(blue.dsn(), green.dsn(), load(transform), "forward")
    assert result.keys > 200
    assert result.ok, result.mismatches[:5]
    # Exactly once: as many green accounts as blue ones, each blue key once.
    assert green.sql("SELECT count(*) FROM accounts") == blue.sql("SELECT count(*) FROM accounts")
    assert blue.sql("SELECT count(*) FROM accounts WHERE length(street) > 1000")[0][0] > 0
    # ...and verify can fail: a changed, a missing and an extra green row are each named.
    some = green.sql("SELECT id FROM accounts ORDER BY id LIMIT 2")
    green.sql("UPDATE addresses SET city = 'tampered' WHERE account_id = %s", (some[0][0],))
    green.sql("DELETE FROM addresses WHERE account_id = %s", (some[1][0],))
    green.sql("INSERT INTO accounts (id, first_name, email) VALUES (-5, 'ghost', 'g')")
    bad = verify(blue.dsn(), green.dsn(), load(transform), "forward")
    assert {(m.table, m.key, m.kind) for m in bad.mismatches} == {
        ("addresses", (some[0][0],), "differs"), ("addresses", (some[1][0],), "missing"),
        ("accounts", (-5,), "extra")}
    # The first ones are explained: f of blue's row (run by blue, for a SQL f) against
    # green's, down to the column.
    differs = next(m for m in bad.mismatches if m.kind == "differs")
    assert differs.columns == ("city",) and differs.actual["city"] == "tampered"
    assert differs.expected == {"account_id": some[0][0], "street": differs.source["street"],
                                "city": differs.source["city"]}


def green_workload(green: Cluster, ops: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    conn = green.connect()
    cur = conn.cursor()
    for i in range(ops):
        if stop.is_set():
            break
        roll = rng.random()
        if roll < 0.4:
            cur.execute("WITH a AS (INSERT INTO accounts (first_name, last_name, email,"
                        " balance_cents) VALUES (%s, %s, %s, %s) RETURNING id)"
                        " INSERT INTO addresses SELECT id, 'new st', 'new city' FROM a",
                        ("Grace", rng.choice([None, "Hopper", ""]), f"g{i}", rng.randint(0, 10**6)))
        elif roll < 0.6:
            cur.execute("UPDATE addresses SET city = 'c' || %s WHERE account_id = (SELECT"
                        " account_id FROM addresses ORDER BY random() LIMIT 1)", (i,))
        elif roll < 0.8:
            cur.execute("UPDATE accounts SET balance_cents = balance_cents + 7 WHERE id ="
                        " (SELECT id FROM accounts ORDER BY random() LIMIT 1)")
        else:
            cur.execute("DELETE FROM accounts WHERE id = (SELECT id FROM accounts ORDER BY"
                        " random() LIMIT 1)")
    conn.close()


def test_reverse_replay_through_g_survives_sigkill(clusters):
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email, balance, street, city) SELECT"
             " 'Seed ' || g, 'e' || g, g, 'st', 'ci' FROM generate_series(1, 2000) g")
    end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    forward = replayer(blue, green, "forward", "gs_fwd", until=end)
    assert forward.wait(timeout=120) == 0, stderr_of(forward)
    Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_fwd").drop()
    # Cutover, writers fenced: green's sequences follow blue's, and reverse replay is
    # anchored before green takes its first write.
    green.sql("SELECT setval('accounts_id_seq', (SELECT max(id) FROM accounts))")
    reverse = Replay(green.dsn(), blue.dsn(), load(TRANSFORM), "gs_rev", "reverse")
    assert reverse.start() is not None
    reverse.close()
    run_with_kills(green, blue, "reverse", "gs_rev",
                   lambda stop: green_workload(green, 800, seed=2, stop=stop))
    result = verify(blue.dsn(), green.dsn(), load(TRANSFORM), "reverse")
    assert result.ok, result.mismatches[:5]
    assert blue.sql("SELECT count(*) FROM accounts") == green.sql("SELECT count(*) FROM accounts")


@pytest.mark.parametrize("ddl, why", [
    ("ALTER TABLE accounts DROP CONSTRAINT accounts_pkey", "accounts has no primary key"),
    # Keyless even with every column in the log: one policy (catalog.key_problem).
    ("ALTER TABLE accounts DROP CONSTRAINT accounts_pkey; "
     "ALTER TABLE accounts REPLICA IDENTITY FULL", "accounts has no primary key"),
    ("ALTER TABLE accounts REPLICA IDENTITY NOTHING", "accounts identifies rows in its log by"),
])
def test_a_table_without_a_key_is_refused_before_any_harm(clusters, ddl, why):
    blue, green = clusters
    blue.sql(ddl)
    with pytest.raises(ReplayRefused) as err:
        Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_nokey")
    line = err.value.one_line()
    assert why in line and "ADD COLUMN id bigserial PRIMARY KEY" in line and "\n" not in line
    assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]
    assert blue.sql("SELECT count(*) FROM pg_publication") == [(0,)]


def test_a_second_replayer_of_the_same_stream_is_refused(clusters):
    blue, green = clusters
    first = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_one")
    try:
        with pytest.raises(ReplayRefused, match="another replayer is running stream gs_one"):
            Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_one")
    finally:
        first.close()


def test_a_replayer_that_is_letting_go_is_waited_for(clusters):
    # A swap takes a stream over from the background replayer it has just stopped:
    # the lock goes only as the server ends that session, a moment later.
    blue, green = clusters
    first = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_handover")
    threading.Timer(0.5, first.close).start()
    began = time.monotonic()
    second = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_handover")
    second.close()
    assert 0.4 < time.monotonic() - began < 5


def test_ddl_on_the_source_stops_the_replay_and_names_the_table(clusters):
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email) VALUES ('A B', 'a')")
    proc = replayer(blue, green, "forward", "gs_ddl")
    try:
        deadline = time.monotonic() + 30
        while not green.sql("SELECT count(*) FROM accounts")[0][0]:
            assert time.monotonic() < deadline, "snapshot never landed"
            time.sleep(0.1)
        blue.sql("ALTER TABLE accounts ADD COLUMN phone text")
        blue.sql("INSERT INTO accounts (full_name, email, phone) VALUES ('C D', 'c', '1')")
        proc.wait(timeout=30)
        err = stderr_of(proc)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "DDL on accounts while replaying" in err


def test_a_slot_over_its_wal_cap_is_dropped_and_the_replay_stops(clusters):
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email) VALUES ('A B', 'a')")
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_cap")
    try:
        replay.start()
        # 4 MiB+ of WAL that nobody confirms: the replayer is not running.
        blue.sql("CREATE TABLE ballast AS SELECT g, md5(g::text) AS v FROM"
                 " generate_series(1, 60000) g")
        with pytest.raises(ReplayRefused) as err:
            replay.stream_changes(threading.Event(), max_slot_wal=1 << 20)
    finally:
        replay.close()
    assert "over the cap of 1 MiB; the slot was dropped" in err.value.one_line()
    assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]
    assert green.sql("SELECT count(*) FROM greenswap.replay_position") == [(0,)]


def test_sequences_only_move_forward(clusters):
    from orchestrator.db.sequences import sync_sequences

    blue, green = clusters
    blue.sql("SELECT setval('accounts_id_seq', 500)")
    assert sync_sequences(blue.dsn(), green.dsn()) == {"public.accounts_id_seq": 500}
    assert green.sql("SELECT nextval('accounts_id_seq')") == [(501,)]
    assert sync_sequences(blue.dsn(), green.dsn()) == {}  # green is ahead: untouched
    assert green.sql("SELECT nextval('accounts_id_seq')") == [(502,)]


def test_lag_is_reported_in_bytes_seconds_and_eta(clusters):
    from orchestrator.db import lag

    blue, green = clusters
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_lag")
    try:
        replay.start()
        blue.sql("INSERT INTO accounts (full_name, email) SELECT 'N ' || g, 'e' FROM"
                 " generate_series(1, 5000) g")
        before = lag.sample(blue.dsn(), green.dsn(), "gs_lag")
        assert before.bytes > 0 and before.retained_bytes > 0
        end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        replay.stream_changes(threading.Event(), until_lsn=lsn_int(end))
        after = lag.sample(blue.dsn(), green.dsn(), "gs_lag")
        now = lag.lag(before, after)
        assert now.bytes == 0 and now.seconds == 0.0 and now.eta_seconds == 0.0
        assert now.apply_bytes_per_s and now.apply_bytes_per_s > 0
    finally:
        replay.drop()
        replay.close()


def test_status_reports_lag_as_json_and_the_run_reports_snapshot_progress(clusters):
    import json

    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email) SELECT 'N ' || g, 'e' FROM"
             " generate_series(1, 30000) g")
    blue.sql("ANALYZE accounts")
    end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    run = replayer(blue, green, "forward", "gs_status", until=end)
    assert run.wait(timeout=120) == 0, stderr_of(run)
    err = stderr_of(run)
    assert "snapshot done in" in err and "30,000 rows into accounts" in err
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "replay", "status", "--source", blue.dsn(),
         "--target", green.dsn(), "--stream", "gs_status", "--interval", "0.2", "--json"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stream"] == "gs_status" and data["bytes"] >= 0 and "eta_seconds" in data


def test_an_insert_already_on_the_target_is_upserted_not_lost(clusters):
    # Inserts are copied straight into green: the log only has rows green cannot hold
    # yet. A green written to by someone else breaks that; the batch must then land
    # as upserts, and the row must end up as f(blue) all the same.
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email) VALUES ('A B', 'a')")
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_stray")
    try:
        replay.start()
        stray = blue.sql("SELECT last_value + 1 FROM accounts_id_seq")[0][0]
        green.sql("INSERT INTO accounts (id, first_name, email) VALUES (%s, 'stray', 's')",
                  (stray,))
        blue.sql("INSERT INTO accounts (full_name, email, balance) VALUES ('Real One', 'r', 2)")
        end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        replay.stream_changes(threading.Event(), until_lsn=lsn_int(end))
    finally:
        replay.drop()
        replay.close()
    assert green.sql("SELECT id, first_name, last_name, balance_cents FROM accounts"
                     " WHERE id = %s", (stray,)) == [(stray, "Real", "One", 200)]
    assert verify(blue.dsn(), green.dsn(), load(TRANSFORM), "forward").ok


def test_a_column_type_change_on_the_source_stops_the_replay(clusters):
    blue, green = clusters
    blue.sql("INSERT INTO accounts (full_name, email) VALUES ('A B', 'a')")
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_retype")
    try:
        replay.start()
        blue.sql("ALTER TABLE accounts ALTER COLUMN balance TYPE double precision")
        blue.sql("INSERT INTO accounts (full_name, email) VALUES ('C D', 'c')")
        with pytest.raises(ReplayRefused) as err:
            replay.stream_changes(threading.Event())
    finally:
        replay.close()
    assert "DDL on accounts while replaying: balance changed type" in err.value.one_line()
    assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]


def test_a_stop_inside_a_commit_record_loses_nothing(clusters):
    """`until_lsn` applies the commits that end at or before it and none after. One
    that falls inside a commit's record is not past that commit's start: the next
    stream replays it (a position past it would have the server skip it)."""
    blue, green = clusters
    replay = Replay(blue.dsn(), green.dsn(), load(TRANSFORM), "gs_inside")
    try:
        replay.start()
        conn = blue.connect()
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("INSERT INTO accounts (full_name, email) VALUES ('In Side', 'in@side')")
            cur.execute("SELECT pg_current_wal_insert_lsn()::text")  # the commit goes here
            commit_at = lsn_int(cur.fetchone()[0])
        conn.commit()
        conn.close()
        stats = replay.stream_changes(threading.Event(), until_lsn=commit_at + 1, fast=True)
        assert stats.applied_lsn == commit_at  # the commit's start, not inside it
        assert green.sql("SELECT count(*) FROM accounts WHERE email = 'in@side'") == [(0,)]
        end = lsn_int(blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])
        replay.stream_changes(threading.Event(), until_lsn=end, fast=True)
        assert green.sql("SELECT count(*) FROM accounts WHERE email = 'in@side'") == [(1,)]
    finally:
        replay.close()
