"""`greenswap transform check` against real blue and green schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"

LOSSY = '''
from decimal import Decimal
from orchestrator.db.transform import Transform
transform = Transform()

@transform.table("accounts", key=["id"],
                 targets={"accounts": {"id": "id"}, "addresses": {"account_id": "id"}})
def accounts(row):
    first, _, last = row["full_name"].partition(" ")   # loses "no space" vs "trailing space"
    return {"accounts": {"id": row["id"], "first_name": first, "last_name": last,
                         "email": row["email"], "balance_cents": int(row["balance"] * 100),
                         "created_at": row["created_at"]},
            "addresses": {"account_id": row["id"], "street": row["street"], "city": row["city"]}}

@accounts.inverse
def back(rows):
    a, d = rows["accounts"], rows["addresses"]
    return {"id": a["id"], "full_name": (a["first_name"] + " " + a["last_name"]).rstrip(" "),
            "email": a["email"], "balance": Decimal(a["balance_cents"]) / 100,
            "street": d["street"], "city": d["city"], "created_at": a["created_at"]}
'''

IMPURE = LOSSY.replace('"email": row["email"]',
                       '"email": row["email"] + str(__import__("time").time_ns())')


@pytest.fixture(scope="module")
def schemas(module_clusters):
    blue, green = module_clusters
    blue.sql("INSERT INTO accounts (full_name, email, balance) VALUES ('Ada Lovelace', 'a',"
             " 1.5), ('Cher', 'c', 0), ('Trailing ', 't', 2)")
    return blue, green


def check(blue, green, path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "transform", "check", str(path), "--blue",
         blue.dsn(), "--green", green.dsn(), "--examples", "100"],
        capture_output=True, text=True, timeout=120,
    )


def test_the_sample_transform_is_proved(schemas):
    proc = check(*schemas, APP / "transform.py")
    assert proc.returncode == 0, proc.stderr
    assert "on 3 sampled and 100 generated rows" in proc.stderr


def test_a_lossy_inverse_is_refused_naming_table_key_and_columns(schemas, tmp_path):
    path = tmp_path / "lossy.py"
    path.write_text(LOSSY)
    proc = check(*schemas, path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 1
    assert len(lines) == 1
    assert "g(f(row)) != row for accounts key" in lines[0] and "full_name" in lines[0]


def test_an_impure_f_is_refused(schemas, tmp_path):
    path = tmp_path / "impure.py"
    path.write_text(IMPURE)
    proc = check(*schemas, path)
    assert proc.returncode == 1
    assert "f must be deterministic" in proc.stderr


# An f with state of its own: it raises once, on one call, and never on the same row
# again. Hypothesis cannot repeat the failure; the check says so in one line.
RAISES_ONCE = (APP / "transform.py").read_text().replace(
    "transform = Transform()\n", "transform = Transform()\nCALLS = []\n").replace(
    "def accounts_f(row):\n", "def accounts_f(row):\n    CALLS.append(1)\n"
    "    if len(CALLS) == 40:\n        raise LookupError('a lookup of its own')\n")


def test_an_f_that_raises_once_is_one_line_and_writes_nothing(schemas, tmp_path):
    path = tmp_path / "raises_once.py"
    path.write_text(RAISES_ONCE)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "transform", "check", str(path), "--blue",
         schemas[0].dsn(), "--green", schemas[1].dsn(), "--examples", "100"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: transform check: f or g for accounts failed on a"
                                  " row, then not on the same row again"), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raises_once.py"]  # no .hypothesis


# The sample app's SQL f, changed in one place: (old, new, the one-line error's words).
SQL_FAULTS = [
    # The reference changed: one cent more than the SQL gives.
    ('int(row["balance"] * 100)', 'int(row["balance"] * 100) + 1',
     ["SQL f for accounts differs from its Python reference", "balance_cents: SQL"]),
    ('"email": "email"', '"email": "email || now()::text"', ["gave two answers",
                                                            "no volatile functions"]),
    ('"city": "city"', '"city": "no_such_column"', ["SQL f for accounts fails on blue",
                                                    "no_such_column"]),
    ('"city": "city"', '"town": "city"', ["writes column(s) town that green's addresses"
                                          " lacks"]),
    # A % is the modulo operator here, never a parameter of the check's own query.
    ('"city": "city"', '"city": "city || (id % 7)::text"',
     ["SQL f for accounts differs from its Python reference", "city: SQL"]),
    # Lossy: a trailing space and none at all both become NULL, and g cannot tell them apart.
    ('" THEN substr(full_name, strpos(full_name, \' \') + 1) END"',
     '" THEN nullif(substr(full_name, strpos(full_name, \' \') + 1), \'\') END"',
     ["SQL f for accounts differs from its Python reference", "last_name"]),
]


# The sample app's SQL g, changed in one place: (old, new, the one-line error's words).
SQL_G_FAULTS = [
    ('"accounts.balance_cents::numeric / 100"', '"accounts.balance_cents::numeric / 10"',
     ["g(f(row)) != row for accounts key", "balance"]),
    ('"email": "accounts.email"', '"email": "accounts.email || now()::text"',
     ["SQL g for accounts gave two answers", "no volatile functions"]),
    ('"coalesce(addresses.city, \'\')"', '"addresses.town"',
     ["SQL g for accounts fails on green", "addresses.town"]),
    ('"created_at": "accounts.created_at",\n    },', "},",
     ["g= must give every column of blue's accounts but its key: created_at missing"]),
]


@pytest.mark.parametrize("old, new, words", SQL_FAULTS + SQL_G_FAULTS)
def test_a_sql_f_or_g_is_proved_and_its_faults_named_in_one_line(schemas, tmp_path, old, new,
                                                                 words):
    source = (APP / "transform.py").read_text()
    assert old in source
    path = tmp_path / "sql.py"
    path.write_text(source.replace(old, new))
    proc = check(*schemas, path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr


def test_a_sql_f_without_a_reference_is_proved_by_g(schemas, tmp_path):
    """No Python f at all: g(f(row)) == row still holds the SQL to account."""
    source = (APP / "transform.py").read_text()
    lossy = source.replace("@accounts.reference\n", "").replace(
        '" THEN substr(full_name, strpos(full_name, \' \') + 1) END"',
        '" THEN nullif(substr(full_name, strpos(full_name, \' \') + 1), \'\') END"')
    path = tmp_path / "no_reference.py"
    path.write_text(source.replace("@accounts.reference\n", ""))
    assert check(*schemas, path).returncode == 0
    path.write_text(lossy)
    proc = check(*schemas, path)
    assert proc.returncode == 1
    assert "g(f(row)) != row for accounts key" in proc.stderr and "full_name" in proc.stderr
