"""The transform raises on one row, on real PostgreSQL clusters: in the snapshot and
in the stream. Replay stops before that row's transaction, the one-line error names
the table and the key, the row is in the dead-letter file (0600), green has
nothing past it, and once the transform is fixed the replayer resumes and
converges."""

from __future__ import annotations

import json
import subprocess
import sys

from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from tests.integration.test_replay import APP, PYTHON_F

POISON = "Poison Pill"  # a full_name the broken transform cannot take

BROKEN = f'''
from decimal import Decimal
import importlib.util

# The Python f: a row a SQL f fails on stops its whole batch instead, with nothing
# to set aside (tests/integration/test_sql_transform.py).
spec = importlib.util.spec_from_file_location("sample", {str(PYTHON_F)!r})
sample = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sample)
transform = sample.transform
forward = transform.tables["accounts"].forward


def picky(row):
    if row["full_name"] == {POISON!r}:
        raise ValueError("cannot split this name")
    return forward(row)


transform.tables["accounts"].forward = picky
'''


def replay(blue, green, transform, dead_letter, until=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "orchestrator.cli", "replay", "run", "--source", blue.dsn(),
            "--target", green.dsn(), "--transform", str(transform), "--stream", "dl",
            "--dead-letter", str(dead_letter)]
    if until:
        args += ["--until-lsn", until]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def insert(blue, name: str) -> int:
    return blue.sql("INSERT INTO accounts (full_name, email, balance) VALUES (%s, 'e', 1)"
                    " RETURNING id", (name,))[0][0]


def test_a_row_the_transform_raises_on_stops_replay_and_is_kept(clusters, tmp_path):
    blue, green = clusters
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    dead = tmp_path / "dead-letter.jsonl"
    insert(blue, "Ada Lovelace")
    bad_in_snapshot = insert(blue, POISON)

    done = replay(blue, green, broken, dead)  # the snapshot meets it
    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert "for accounts raised ValueError: cannot split this name" in error
    assert f"on key ({bad_in_snapshot},)" in error and str(dead) in error
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letters[0]["table"] == "accounts" and letters[0]["key"] == [bad_in_snapshot]
    assert letters[0]["row"]["full_name"] == POISON
    assert dead.stat().st_mode & 0o777 == 0o600
    assert green.sql("SELECT count(*) FROM accounts")[0][0] == 0  # the snapshot rolled back

    # Fixed by hand on blue, the snapshot goes through; then a bad row in the stream.
    blue.sql("UPDATE accounts SET full_name = 'Poison P.' WHERE id = %s", (bad_in_snapshot,))
    before = insert(blue, "Grace Hopper")
    end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    assert replay(blue, green, broken, dead, until=end).returncode == 0
    bad_in_stream = insert(blue, POISON)
    after = insert(blue, "Alan Turing")
    end = blue.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]

    done = replay(blue, green, broken, dead, until=end)
    assert done.returncode != 0 and f"on key ({bad_in_stream},)" in done.stderr
    assert len(dead.read_text().splitlines()) == 2
    ids = {r[0] for r in green.sql("SELECT id FROM accounts")}
    assert before in ids and bad_in_stream not in ids and after not in ids  # nothing past it

    # The transform fixed (here: the sample's own), replay resumes and converges.
    assert replay(blue, green, APP / "transform.py", dead, until=end).returncode == 0
    assert verify(blue.dsn(), green.dsn(), load(APP / "transform.py"), "forward").ok
