"""An f in SQL where it fails: on blue during the snapshot, on green at the
replayer's start, and on one row while streaming. Each stops replay in one line
with nothing half-written, and the snapshot's pipe reports progress from the
server's own view. A g in SQL: reverse replay and verify through green's server."""

from __future__ import annotations

import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from orchestrator.db import pipeline, snapshot
from orchestrator.db.connect import connect
from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from orchestrator.errors import ReplayError, ReplayRefused
from tests.integration.test_type_matrix import COLUMNS

APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"
CITY = '"city": "city"'


def with_city(tmp_path: Path, expr: str) -> Path:
    """The sample app's transform with addresses.city computed by `expr`."""
    source = (APP / "transform.py").read_text()
    assert CITY in source
    path = tmp_path / "transform.py"
    path.write_text(source.replace(CITY, f'"city": {expr!r}'))
    return path


def replay_run(blue, green, transform: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "replay", "run", "--source", blue.dsn(),
         "--target", green.dsn(), "--transform", str(transform), "--stream", "gs_sql", *extra],
        capture_output=True, text=True, timeout=120)


def seed(blue, n: int) -> None:
    blue.sql("INSERT INTO accounts (full_name, email, balance, street, city) SELECT"
             " 'Seed ' || g, 'e' || g, g, 'st', 'ci' FROM generate_series(1, %s) g", (n,))


def test_a_sql_f_failing_on_blue_mid_snapshot_leaves_green_empty(clusters, tmp_path):
    blue, green = clusters
    seed(blue, 3000)
    # Fails on row 1500, after green has taken rows from the pipe.
    proc = replay_run(blue, green, with_city(tmp_path, "city || (1 / (id - 1500))::text"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "division by zero" in lines[0], proc.stderr
    assert green.sql("SELECT count(*) FROM accounts") == [(0,)]
    assert green.sql("SELECT count(*) FROM addresses") == [(0,)]
    assert green.sql("SELECT count(*) FROM greenswap.replay_position") == [(0,)]
    assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]


def test_a_sql_f_blue_cannot_plan_fails_with_blue_s_error_not_green_s(clusters, tmp_path):
    """Blue fails before its first row, in the binary pipe: green then reads an empty
    input and refuses it, but the cause said is blue's."""
    blue, green = clusters
    seed(blue, 10)
    green.sql("CREATE FUNCTION green_only(text) RETURNS text LANGUAGE sql IMMUTABLE"
              " AS 'SELECT upper($1)'")
    proc = replay_run(blue, green, with_city(tmp_path, "green_only(city)"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "green_only(text) does not exist" in lines[0], proc.stderr
    assert green.sql("SELECT count(*) FROM addresses") == [(0,)]
    assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]


def test_a_sql_f_green_cannot_run_is_refused_before_the_first_change(clusters, tmp_path):
    blue, green = clusters
    blue.sql("CREATE FUNCTION blue_only(text) RETURNS text LANGUAGE sql IMMUTABLE"
             " AS 'SELECT upper($1)'")
    transform = load(with_city(tmp_path, "blue_only(city)"))
    with pytest.raises(ReplayRefused) as refused:
        Replay(blue.dsn(), green.dsn(), transform, "gs_sql")
    line = refused.value.one_line()
    assert "SQL f of accounts for addresses cannot run on the target" in line
    assert "blue_only(text) does not exist" in line and "\n" not in line


def test_a_sql_f_failing_on_one_streamed_row_stops_before_that_batch(clusters, tmp_path):
    blue, green = clusters
    seed(blue, 100)
    transform = with_city(tmp_path, "city || (1 / (length(city) - 4))::text")
    done = replay_run(blue, green, transform, "--until-lsn",
                      blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])
    assert done.returncode == 0, done.stderr
    position = green.sql("SELECT lsn FROM greenswap.replay_position")
    blue.sql("INSERT INTO accounts (full_name, email, city) VALUES ('Fine', 'f', 'Zurich'),"
             " ('Bad', 'b', 'Oslo')")  # length 4: a division by zero, on green
    stopped = replay_run(blue, green, transform, "--until-lsn",
                         blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])
    assert stopped.returncode != 0
    lines = [ln for ln in stopped.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "SQL f of accounts for addresses failed on the target" in lines[0]
    assert "division by zero" in lines[0] and "nothing of this batch was applied" in lines[0]
    # The whole transaction is held back, its good row too, and the position stays.
    assert green.sql("SELECT count(*) FROM accounts WHERE email IN ('f', 'b')") == [(0,)]
    assert green.sql("SELECT lsn FROM greenswap.replay_position") == position


def test_the_pipe_copies_every_row_and_reports_progress_as_it_goes(clusters, monkeypatch):
    blue, green = clusters
    green.sql("CREATE TABLE piped (n int PRIMARY KEY, t text)")
    monkeypatch.setattr(pipeline, "PROGRESS_EVERY_S", 0.05)
    seen: list[int] = []
    source, target = connect(blue.dsn(), "test"), connect(green.dsn(), "test")
    try:
        with source.cursor() as rcur, target.cursor() as wcur:
            # Slow on purpose (a pause every 500 rows), so progress has time to show.
            n = pipeline.copy_through(
                rcur, "SELECT g, 'tab\there' FROM generate_series(1, 3000) g WHERE"
                " CASE WHEN g % 500 = 0 THEN pg_sleep(0.1) IS NOT NULL ELSE true END",
                wcur, "piped (n, t)", "a test copy", blue.dsn(), seen.append)
        target.commit()
    finally:
        source.close()
        target.close()
    assert n == 3000
    assert green.sql("SELECT count(*), count(DISTINCT n), min(t) FROM piped") == [
        (3000, 3000, "tab\there")]
    assert seen and seen == sorted(seen) and 0 < seen[0] < 3000 and seen[-1] <= 3000


def test_the_pipe_raises_what_the_target_refused_and_the_reader_stops(clusters):
    blue, green = clusters
    green.sql("CREATE TABLE strict (n int PRIMARY KEY CHECK (n < 100))")
    source, target = connect(blue.dsn(), "test"), connect(green.dsn(), "test")
    try:
        with source.cursor() as rcur, target.cursor() as wcur, \
                pytest.raises((psycopg2.Error, ReplayError)) as failed:
            pipeline.copy_through(rcur, "SELECT g FROM generate_series(1, 200000) g", wcur,
                                  "strict (n)", "a test copy", blue.dsn())
        target.rollback()
    finally:
        source.close()
        target.close()
    assert "strict_n_check" in str(failed.value)
    assert green.sql("SELECT count(*) FROM strict") == [(0,)]



def test_built_in_types_cross_the_pipe_in_binary_and_verify_equal(clusters, tmp_path,
                                                                  monkeypatch):
    """The type matrix's built-in columns (every one but the enum and the domain),
    through a SQL f that changes some types: blue's COPY is binary, each value cast
    to its green type first, and verify finds green == f(blue) on every row."""
    blue, green = clusters
    columns = [(c, t, e) for c, t, e in COLUMNS if c not in ("e", "dm")]
    changed = {"n": "bigint", "r": "double precision", "ia": "bigint[]", "js": "jsonb"}
    for cluster, types in ((blue, {}), (green, changed)):
        body = ", ".join(f"{c} {types.get(c, t)}" for c, t, _ in columns)
        cluster.sql(f"CREATE TABLE builtins (id uuid PRIMARY KEY, {body})")
    for i in range(1, 13):  # every fifth a row of NULLs
        values = ["NULL" if i % 5 == 0 else e.format(i=i) for _, _, e in columns]
        blue.sql(f"INSERT INTO builtins VALUES (md5('{i}')::uuid, {', '.join(values)})")
    exprs = {c: c for c, _, _ in columns} | {"n": "trunc(n * 1000)"}
    path = tmp_path / "builtins.py"
    path.write_text(
        "from orchestrator.db.transform import Transform\n"
        "transform = Transform()\n"
        f"transform.sql('builtins', key=['id'], targets={{'builtins': {{'id': 'id'}}}},"
        f" f={{'builtins': {exprs!r}}})\n")
    binary = []
    real_copy = pipeline.copy_through

    def copy_through(*args, **kwargs):
        binary.append(kwargs.get("binary"))
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(snapshot, "copy_through", copy_through)
    transform = load(path)
    replay = Replay(blue.dsn(), green.dsn(), transform, "gs_builtins")
    try:
        assert replay.start().rows == {"builtins": 12}
    finally:
        replay.close()
    assert binary == [True]
    result = verify(blue.dsn(), green.dsn(), transform, "forward")
    assert result.ok and result.keys == 12, result.mismatches[:3]
    # A real, cast to double precision, keeps the float4's exact value on both paths.
    assert green.sql("SELECT n, r FROM builtins WHERE id = md5('1')::uuid") == [
        (1125, blue.sql("SELECT r::float8 FROM builtins WHERE id = md5('1')::uuid")[0][0])]


def test_a_sql_g_replays_green_to_blue_and_verify_runs_it(clusters):
    """The sample app's g is SQL: green's server computes blue's rows, in the stream's
    snapshot. An account without an address row, an update and a delete; then blue
    is changed behind replay's back and verify names the column, with g's answer."""
    blue, green = clusters
    reverse = Replay(green.dsn(), blue.dsn(), load(APP / "transform.py"), "gs_rev", "reverse")
    try:
        assert reverse.start() is not None  # anchored at green's current point
        green.sql("INSERT INTO accounts (id, first_name, last_name, email, balance_cents) VALUES"
                  " (1, 'Ada', 'Lovelace', 'a', 150), (2, 'Cher', NULL, 'c', 7),"
                  " (3, 'Gone', 'Soon', 'g', 0);"
                  " INSERT INTO addresses VALUES (1, 'St', 'London'), (3, 'X', 'Y')")
        green.sql("UPDATE accounts SET balance_cents = 1999 WHERE id = 2;"
                  " DELETE FROM addresses WHERE account_id = 3; DELETE FROM accounts WHERE id = 3")
        end = green.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        reverse.stream_changes(threading.Event(), until_lsn=lsn_int(end))
    finally:
        reverse.drop()
        reverse.close()
    assert blue.sql("SELECT id, full_name, email, balance::text, street, city FROM accounts"
                    " ORDER BY id") == [(1, "Ada Lovelace", "a", "1.50", "St", "London"),
                                        (2, "Cher", "c", "19.99", "", "")]
    assert verify(blue.dsn(), green.dsn(), load(APP / "transform.py"), "reverse").ok
    blue.sql("UPDATE accounts SET full_name = 'Cher Other' WHERE id = 2")
    result = verify(blue.dsn(), green.dsn(), load(APP / "transform.py"), "reverse")
    assert not result.ok and len(result.mismatches) == 1
    m = result.mismatches[0]
    assert (m.table, m.kind, m.columns) == ("accounts", "differs", ("full_name",))
    assert m.expected is not None and m.expected["full_name"] == "Cher"
    assert m.expected["balance"] == Decimal("19.99")  # decoded as blue's row is


def test_a_sql_g_green_cannot_run_is_refused_before_the_first_change(clusters, tmp_path):
    blue, green = clusters
    source = (APP / "transform.py").read_text()
    path = tmp_path / "transform.py"
    path.write_text(source.replace('"accounts.email"', '"accounts.mail"'))
    with pytest.raises(ReplayRefused) as refused:
        Replay(green.dsn(), blue.dsn(), load(path), "gs_rev", "reverse")
    line = refused.value.one_line()
    assert "SQL g of accounts cannot run on green" in line and "accounts.mail" in line
    assert "\n" not in line
