"""The data commands on bad input: a DSN that is not one, a server nobody answers
on, a table the transform names but blue lacks, and a role without the privileges
each is one line (exit 1 or 3), no traceback, and no password in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import _clusters
from tests.pg import Cluster, free_port

APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"
SECRET = "s3cret-never-shown"


@pytest.fixture(scope="module")
def colours():
    for blue, green in _clusters():
        blue.sql("CREATE ROLE nobody LOGIN")  # no grant on any table
        yield blue, green


def commands(blue: str, green: str, transform: Path) -> dict[str, list[str]]:
    both = ["--source", blue, "--target", green]
    return {
        "replay run": ["replay", "run", *both, "--transform", str(transform), "--until-lsn",
                       "0/1"],
        "replay verify": ["replay", "verify", "--blue", blue, "--green", green,
                          "--transform", str(transform)],
        "replay drop": ["replay", "drop", *both, "--transform", str(transform)],
        "replay sequences": ["replay", "sequences", *both, "--transform", str(transform)],
        "transform check": ["transform", "check", str(transform), "--blue", blue, "--green",
                            green, "--samples", "5", "--examples", "5"],
    }


def cases(colours, tmp_path):
    blue, green = colours
    missing = tmp_path / "missing_table.py"
    missing.write_text((APP / "transform.py").read_text().replace('"accounts"', '"ledger"', 1))
    dead = f"host=127.0.0.1 port={free_port()} dbname=postgres user=x password={SECRET}"
    weak = f"host=127.0.0.1 port={blue.port} dbname=postgres user=nobody password={SECRET}"
    return {
        "a DSN that is not one": (f"host=127.0.0.1 nonsense password={SECRET}", green.dsn(),
                                  APP / "transform.py"),
        "nobody answers": (dead, green.dsn(), APP / "transform.py"),
        "a missing table": (blue.dsn(), green.dsn(), missing),
        "a role without privileges": (weak, green.dsn(), APP / "transform.py"),
    }


# Which commands must fail on each; the others may have nothing to do with what is
# wrong (a drop with nothing to drop, sequences of tables they do not read), but none
# may trace back or show the password.
MUST_FAIL = {
    "a DSN that is not one": {"replay run", "replay verify", "replay drop", "replay sequences",
                              "transform check"},
    "nobody answers": {"replay run", "replay verify", "replay drop", "replay sequences",
                       "transform check"},
    "a missing table": {"replay run", "replay verify", "transform check"},
    "a role without privileges": {"replay run", "replay verify", "transform check"},
}


@pytest.mark.parametrize("case", list(MUST_FAIL))
def test_a_data_command_on_bad_input_is_one_line(colours, tmp_path, case):
    blue, green, transform = cases(colours, tmp_path)[case]
    for name, args in commands(blue, green, transform).items():
        done = subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        said = done.stdout + done.stderr
        assert "Traceback" not in said and SECRET not in said, f"{name}: {said}"
        if name in MUST_FAIL[case] or done.returncode != 0:
            assert done.returncode in (1, 3), f"{name}: {said}"
            errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1, f"{name}: {said}"


def test_a_wrong_password_is_one_line_naming_only_the_role(tmp_path):
    cluster = Cluster("scram", password_auth=True)
    try:
        cluster.start()
        conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(cluster.dir),
                                port=cluster.port)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE clerk LOGIN PASSWORD 'the-right-one'")
        conn.close()
        wrong = f"host=127.0.0.1 port={cluster.port} dbname=postgres user=clerk password={SECRET}"
        for name, args in commands(wrong, wrong, APP / "transform.py").items():
            done = subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                                  capture_output=True, text=True, timeout=120, cwd=tmp_path)
            said = done.stdout + done.stderr
            assert done.returncode == 1, f"{name}: {said}"
            assert "Traceback" not in said and SECRET not in said, f"{name}: {said}"
            errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1 and 'for user "clerk"' in errors[0], f"{name}: {said}"
    finally:
        cluster.destroy()
