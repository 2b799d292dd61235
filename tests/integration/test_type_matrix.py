"""The type matrix: every key type and column type below goes through transform check,
snapshot, forward stream, reverse stream and verify (both ways), once through an
identity transform and once through one that changes types (tests/data/), each
with f in Python and in SQL.

Keys: int, bigint, text (with a tab, a backslash and non-ASCII), uuid, timestamp,
timestamptz, date, numeric, (text, date) and (boolean, int); in every table an
UPDATE changes a row's key. Columns: jsonb, json, json[] (no = operator), text[],
int[], bytea, interval, inet, cidr, macaddr,
numeric(12,3), real and double precision (NaN, +-Infinity), money, char(n),
varchar(n), time, timetz, boolean, an enum, a domain, a generated column, a large
TOASTed value (changed and left unchanged), text with tabs, newlines, backslashes,
carriage returns and non-ASCII, and a row of NULLs in every column that allows them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.db.check import check
from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.replayer import Replay
from orchestrator.db.transform import load
from orchestrator.db.verify import verify
from tests.pg import Cluster

DATA = Path(__file__).resolve().parents[1] / "data"
ROWS = 12  # seeded per table; every fifth is the row of NULLs

# table -> [(key column, its type, its value as SQL of the row number i)]
KEYS = {
    "k_int": [("id", "int", "{i}")],
    "k_bigint": [("id", "bigint", "{i} + 5000000000")],
    "k_text": [("id", "text", "E'k{i}\\t\\\\é'")],
    "k_uuid": [("id", "uuid", "md5('{i}')::uuid")],
    "k_ts": [("id", "timestamp", "timestamp '2024-02-29 12:00:00.5' + {i} * interval '1 d 1 s'")],
    "k_tstz": [("id", "timestamptz",
                "timestamptz '2024-02-29 12:00:00.5+05' + {i} * interval '1 h'")],
    "k_date": [("id", "date", "date '2000-01-01' + {i}")],
    "k_numeric": [("id", "numeric", "{i} + 0.125")],
    "k_composite": [("id", "text", "'c' || {i}"), ("day", "date", "date '1999-12-31' + {i}")],
    "k_flag": [("flag", "boolean", "{i} % 2 = 0"), ("id", "int", "{i}")],
}
# (column, type, value as SQL of i); NULL in every nullable column when i % 5 == 0.
COLUMNS = [
    ("j", "jsonb", "jsonb_build_object('a', {i}, 'b', jsonb_build_array(1, E'x\\ty'))"),
    ("js", "json", "json_build_object('k', 'v' || {i})::jsonb::json"),
    ("ta", "text[]", "ARRAY['a b', 'c,d', 'e\"f', NULL, E'g\\\\h']"),
    ("ia", "int[]", "ARRAY[{i}, -{i}, 0]"),
    ("jsa", "json[]", "ARRAY[json_build_object('a', {i})]"),  # no = operator: compared as text
    ("b", "bytea", "decode(md5('{i}'), 'hex') || '\\x00ff'::bytea"),
    ("iv", "interval", "{i} * interval '1 mon 2 days 03:04:05.678'"),
    ("ip", "inet", "('10.0.' || {i} || '.1/24')::inet"),
    ("cn", "cidr", "('192.168.' || {i} || '.0/24')::cidr"),
    ("mac", "macaddr", "('08:00:2b:01:02:' || lpad(to_hex({i}), 2, '0'))::macaddr"),
    ("n", "numeric(12,3)", "{i} * 1.125"),
    ("r", "real", "(ARRAY['NaN', 'Infinity', '-Infinity', ({i} / 3.0)::text])[{i} % 4 + 1]::real"),
    ("d", "double precision",
     "(ARRAY['-Infinity', 'NaN', ({i} / 7.0)::text, 'Infinity'])[{i} % 4 + 1]::float8"),
    ("m", "money", "({i} * 1.25)::numeric::money"),
    ("c", "char(5)", "'ab'"),
    ("vc", "varchar(20)", "'v' || {i}"),
    ("t", "time", "time '01:02:03.456' + {i} * interval '1 min'"),
    ("ttz", "timetz", "timetz '01:02:03+02'"),
    ("bo", "boolean", "{i} % 2 = 0"),
    ("e", "mood", "(ARRAY['sad', 'ok', 'happy']::mood[])[{i} % 3 + 1]"),
    ("dm", "posint", "{i} + 1"),
    ("big", "text", "CASE WHEN {i} % 3 = 0 THEN (SELECT string_agg(md5({i} || '.' || g), '')"
                    " FROM generate_series(1, 120) g) END"),
    ("tx", "text", "E'tab\\there\\nnew line\\\\back \\r cr é ü 日本 ' || {i}"),
]
TYPES = ("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
         " CREATE DOMAIN posint AS int CHECK (VALUE > 0);")
# The type-changing transform's green types (tests/data/matrix_changed.py).
CHANGED_KEYS = {"k_int": "bigint", "k_uuid": "text", "k_ts": "text"}
CHANGED_COLUMNS = {"n": ("n", "bigint"), "r": ("r", "double precision"),
                   "vc": ("label", "text"), "ia": ("ia", "bigint[]"), "js": ("js", "jsonb")}


def ddl(table: str, changed: bool) -> str:
    keys = [(c, CHANGED_KEYS.get(table, t) if changed else t) for c, t, _ in KEYS[table]]
    cols = [CHANGED_COLUMNS.get(c, (c, t)) if changed else (c, t) for c, t, _ in COLUMNS]
    body = [f"{c} {t} NOT NULL" for c, t in keys] + [f"{c} {t}" for c, t in cols]
    body += ["g int GENERATED ALWAYS AS (dm * 2) STORED",
             f"PRIMARY KEY ({', '.join(c for c, _ in keys)})"]
    return f"CREATE TABLE {table} ({', '.join(body)});"


def key_sql(table: str, i: int, green_changed: bool = False) -> str:
    values = []
    for _, t, expr in KEYS[table]:
        cast = CHANGED_KEYS.get(table, t) if green_changed else t
        values.append(f"({expr.format(i=i)})::{cast}")
    return f"({', '.join(c for c, _, _ in KEYS[table])}) = ({', '.join(values)})"


def insert_sql(table: str, i: int) -> str:
    cols = [c for c, _, _ in KEYS[table]] + [c for c, _, _ in COLUMNS]
    nulls = i % 5 == 0
    values = [e.format(i=i) for _, _, e in KEYS[table]] + [
        "NULL" if nulls and c != "dm" else e.format(i=i) for c, _, e in COLUMNS]
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(values)});"


def green_columns(changed: bool) -> list[str]:
    return [CHANGED_COLUMNS.get(c, (c, t))[0] if changed else c for c, t, _ in COLUMNS]


# Each transform with f in Python and in SQL (tests/data/matrix_*_sql.py).
@pytest.fixture(params=["identity", "changed", "identity_sql", "changed_sql"])
def matrix(request):
    changed = request.param.startswith("changed")
    blue = Cluster("blue", {"timezone": "'UTC'"})
    green = Cluster("green", {"timezone": "'UTC'"})
    try:
        blue.start()
        green.start()
        blue.sql(TYPES + "".join(ddl(t, False) for t in KEYS)
                 + "".join(insert_sql(t, i) for t in KEYS for i in range(1, ROWS + 1)))
        green.sql(TYPES + "".join(ddl(t, changed) for t in KEYS))
        yield blue, green, DATA / f"matrix_{request.param}.py", changed
    finally:
        blue.destroy()
        green.destroy()


def stream_to_end(replay: Replay, source: Cluster) -> None:
    end = source.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    replay.stream_changes(threading.Event(), until_lsn=lsn_int(end))


def blue_changes(blue: Cluster) -> None:
    statements = []
    for t in KEYS:
        statements += [insert_sql(t, 100), insert_sql(t, 105),  # 105: the NULL row
                       # Unchanged TOAST (row 3 has a large value): read back from blue.
                       f"UPDATE {t} SET vc = 'upd' WHERE {key_sql(t, 3)};",
                       f"UPDATE {t} SET big = big || 'x' WHERE {key_sql(t, 6)};",
                       f"DELETE FROM {t} WHERE {key_sql(t, 4)};"]
        # The key changes: the old entity goes, the new one comes.
        column, _, expr = KEYS[t][-1]
        statements.append(f"UPDATE {t} SET {column} = {expr.format(i=900)}"
                          f" WHERE {key_sql(t, 2)};")
    blue.sql("".join(statements))


def green_changes(green: Cluster, changed: bool) -> None:
    cols = green_columns(changed)
    statements = []
    for t in KEYS:
        keys = [c for c, _, _ in KEYS[t]]
        new_key = [f"({e.format(i=700)})::{CHANGED_KEYS.get(t, ty) if changed else ty}"
                   for _, ty, e in KEYS[t]]
        statements += [
            f"INSERT INTO {t} ({', '.join(keys + cols)}) SELECT {', '.join(new_key + cols)}"
            f" FROM {t} WHERE {key_sql(t, 9, changed)};",
            f"UPDATE {t} SET tx = E'from green\\t\\\\' WHERE {key_sql(t, 3, changed)};",
            f"UPDATE {t} SET big = NULL WHERE {key_sql(t, 6, changed)};",
            f"DELETE FROM {t} WHERE {key_sql(t, 7, changed)};",
        ]
        column, ty, expr = KEYS[t][-1]
        cast = CHANGED_KEYS.get(t, ty) if changed else ty
        statements.append(f"UPDATE {t} SET {column} = ({expr.format(i=800)})::{cast}"
                          f" WHERE {key_sql(t, 8, changed)};")
    green.sql("".join(statements))


def test_every_type_through_check_snapshot_stream_reverse_and_verify(matrix):
    blue, green, path, changed = matrix
    transform = load(path)
    reports = check(transform, blue.dsn(), green.dsn(), samples=50, examples=30)
    assert {r.table for r in reports} == set(KEYS)
    assert all(r.sampled == ROWS for r in reports)
    # Generated rows too: columns of types it cannot generate take sampled values.
    assert all(r.generated > 0 for r in reports), [(r.table, r.notes) for r in reports]

    forward = Replay(blue.dsn(), green.dsn(), transform, "gs_matrix_f")
    try:
        snapshot = forward.start()
        assert snapshot.rows == dict.fromkeys(KEYS, ROWS)
        assert verify(blue.dsn(), green.dsn(), transform).ok
        blue_changes(blue)
        stream_to_end(forward, blue)
        forward.drop()
    finally:
        forward.close()
    result = verify(blue.dsn(), green.dsn(), transform, "forward")
    assert result.ok, result.mismatches[:5]
    assert result.keys == len(KEYS) * (ROWS + 2 - 1)
    assert green.sql("SELECT count(*) FROM k_uuid WHERE big IS NOT NULL AND vc_or_label = 'upd'"
                     .replace("vc_or_label", "label" if changed else "vc")) == [(1,)]

    reverse = Replay(green.dsn(), blue.dsn(), transform, "gs_matrix_r", "reverse")
    try:
        assert reverse.start() is not None
        green_changes(green, changed)
        stream_to_end(reverse, green)
    finally:
        reverse.close()
    back = verify(blue.dsn(), green.dsn(), transform, "reverse")
    assert back.ok, back.mismatches[:5]
    assert blue.sql("SELECT count(*) FROM k_ts") == green.sql("SELECT count(*) FROM k_ts")
    assert blue.sql("SELECT tx FROM k_composite WHERE id = 'c3'") == [("from green\t\\",)]

    # ...and verify can fail on a typed key: a changed value, named by its key.
    green.sql("UPDATE k_uuid SET tx = 'tampered' WHERE id = md5('1')::uuid::"
              + ("text" if changed else "uuid"))
    green.sql("UPDATE k_flag SET jsa = ARRAY['{\"a\": 0}'::json] WHERE flag AND id = 10")
    bad = verify(blue.dsn(), green.dsn(), transform, "forward")
    assert {(m.table, m.key, m.kind) for m in bad.mismatches} == {
        ("k_uuid", (blue.sql("SELECT md5('1')::uuid::text")[0][0],), "differs"),
        ("k_flag", (True, 10), "differs")}
