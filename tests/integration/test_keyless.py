"""Tables without a primary key: one policy, the same line from every data command.

pgbench's own pgbench_history is the canonical case. With REPLICA IDENTITY FULL its
log carries whole rows, but two identical rows still cannot be told apart by an
update or delete, and green could not key what it receives: refused everywhere,
with the way out (a bigserial key) in the hint. docs/transform.md says the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.pg import Cluster

TRANSFORM = Path(__file__).resolve().parents[1] / "data" / "keyless.py"
HISTORY = ("CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int,"
           " mtime timestamp, filler char(22));"
           " ALTER TABLE pgbench_history REPLICA IDENTITY FULL;"
           " INSERT INTO pgbench_history VALUES (1, 1, 1, 5, now(), NULL);")


def greenswap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_a_keyless_table_gets_the_same_refusal_from_every_command():
    blue, green = Cluster("blue").start(), Cluster("green").start()
    try:
        blue.sql(HISTORY)
        green.sql(HISTORY)
        runs = {
            "replay run": greenswap("replay", "run", "--source", blue.dsn(), "--target",
                                    green.dsn(), "--transform", str(TRANSFORM),
                                    "--stream", "gs_keyless"),
            "transform check": greenswap("transform", "check", str(TRANSFORM), "--blue",
                                         blue.dsn(), "--green", green.dsn()),
            "replay verify": greenswap("replay", "verify", "--blue", blue.dsn(), "--green",
                                       green.dsn(), "--transform", str(TRANSFORM)),
        }
        assert blue.sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]
        assert green.sql("SELECT to_regclass('greenswap.replay_position')") == [(None,)]
    finally:
        blue.destroy()
        green.destroy()
    for command, run in runs.items():
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 1, (command, run.stderr)
        assert len(lines) == 1 and "Traceback" not in run.stderr, (command, run.stderr)
        assert "pgbench_history has no primary key; greenswap replays only tables with one" \
            in lines[0], (command, lines[0])
        assert "ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY" in lines[0]
