"""`greenswap init` drafts a config, a transform and a deploy playbook from both
schemas: `transform check` passes on the drafted transform where the tables did
not change, and where one did it points at a TODO; init never overwrites a file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import _clusters
from tests.sample_app import LEDGER

SEED = ("INSERT INTO clients (name, email, balance, street, city) VALUES"
        " ('Ada', 'ada@x.test', 12.50, '1 Main St', 'Zurich')")


def greenswap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def ledger():
    yield from _clusters(LEDGER, seed=SEED)


def check(path, blue, green) -> subprocess.CompletedProcess:
    return greenswap("transform", "check", str(path), "--blue", blue.dsn(), "--green",
                     green.dsn(), "--samples", "20", "--examples", "20")


def test_init_drafts_a_transform_that_points_at_each_change(ledger, tmp_path):
    blue, green = ledger
    # An unchanged table on both sides: its drafted f and g need no edit.
    for cluster in ledger:
        cluster.sql("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    made = greenswap("init", str(tmp_path / "shop"), "--blue", blue.dsn(), "--green",
                     green.dsn(), "--environment", "shop")
    assert made.returncode == 0, made.stderr
    drafted = (tmp_path / "shop" / "transform.py").read_text()
    # clients was renamed (to customers): a TODO for each side, no guess.
    assert "# TODO: blue table clients has no green table of that name" in drafted
    assert "# TODO: green table customers has no blue table of that name" in drafted
    # notes maps column by column, both ways: its f and its g are drafted in SQL.
    assert "notes = transform.sql('notes', key=['id'], targets={'notes': {'id': 'id'}}," \
        " f={'notes': {\n    'body': 'body',\n}}, g={\n    'body': 'notes.body',\n})" in drafted
    assert "@notes.inverse" not in drafted

    # notes alone, as drafted: the check passes on it.
    only_notes = tmp_path / "notes.py"
    only_notes.write_text(drafted)
    for cluster in ledger:
        cluster.sql("DROP TABLE clients" if cluster is blue else "DROP TABLE customers")
    assert check(only_notes, blue, green).returncode == 0

    # A column green renamed: the check fails, naming that TODO.
    green.sql("ALTER TABLE notes RENAME COLUMN body TO text")
    redrafted = greenswap("init", str(tmp_path / "again"), "--blue", blue.dsn(), "--green",
                          green.dsn())
    assert redrafted.returncode == 0, redrafted.stderr
    failed = check(tmp_path / "again" / "transform.py", blue, green)
    assert failed.returncode == 1
    assert "TODO in transform.py: green notes.text from blue" in failed.stdout + failed.stderr

    # Never overwrites: the second init into the same directory changes nothing.
    again = greenswap("init", str(tmp_path / "shop"), "--blue", blue.dsn(), "--green",
                      green.dsn())
    assert again.returncode == 3 and "never overwrites" in again.stderr
    assert (tmp_path / "shop" / "transform.py").read_text() == drafted
