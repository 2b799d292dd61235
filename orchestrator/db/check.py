"""`greenswap transform check`: prove what can be proved about a transform, before
it touches any data.

1. Schema: every blue table and key exists on blue; every green table exists on
   green, keyed by its primary key; f writes only columns green has.
2. Round trip: g(f(row)) == row, on sampled real blue rows and on rows generated
   from blue's column types (hypothesis).
3. Purity: f and g give equal answers when called twice, and leave their input
   unchanged.
4. A SQL f is run by blue on each of those rows (in the session settings replay
   pins, connect.py), and must equal its Python reference, if it has one. A SQL g
   is run by green on f's output for each (and so proves 2 and 3 in SQL).

The first failure is reported with its table, key and property; nothing is written
anywhere.
"""

from __future__ import annotations

import copy
import io
import json
import math
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg2
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from orchestrator.db.catalog import (
    TableInfo,
    key_hint,
    key_problem,
    quote_ident,
    quote_table,
    sql_alias,
    table_info,
    typed_values,
)
from orchestrator.db.connect import connect, first_line
from orchestrator.db.mapping import forward_rows, inverse_row
from orchestrator.db.transform import Row, TableTransform, Transform
from orchestrator.db.values import decoder, parse_copy_line
from orchestrator.errors import TransformError

JSONB_OID = 3802
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=40)


@dataclass
class TableReport:
    table: str
    sampled: int = 0
    generated: int = 0
    notes: list[str] = field(default_factory=list)


def check(transform: Transform, blue_dsn: str, green_dsn: str, samples: int = 200,
          examples: int = 300) -> list[TableReport]:
    blue, green = connect(blue_dsn, "check-blue"), connect(green_dsn, "check-green")
    try:
        reports = []
        for tt in transform.tables.values():
            info, greens = _schema(blue, green, tt)
            columns = {g: set(i.columns) for g, i in greens.items()}
            sql = _Sql(None if tt.sql is None else _SqlForward(blue, tt, info, greens),
                       None if tt.inverse_sql is None else _SqlInverse(green, tt, info, greens))
            report = TableReport(tt.source)
            sampled = _sample(blue, info, samples)
            for row in sampled:
                _prove(tt, row, columns, sql)
                report.sampled += 1
            report.generated = _generated(tt, info, columns, examples, report, sampled, sql,
                                          _AsStored(blue, info))
            if report.sampled + report.generated == 0:
                raise TransformError(
                    f"transform check: {tt.source} has no rows to sample and column types "
                    "greenswap cannot generate; nothing about its transform is proved",
                    "add sample rows to blue, or use supported column types",
                )
            reports.append(report)
        return reports
    finally:
        blue.close()
        green.close()


def _schema(blue, green, tt: TableTransform) -> tuple[TableInfo, dict[str, TableInfo]]:
    with blue.cursor() as cur:
        info = table_info(cur, tt.source)
    if info is None:
        raise TransformError(f"transform check: blue has no table {tt.source}")
    problem = key_problem(info, tt.key)
    if problem:
        raise TransformError(f"transform check: blue's {problem}", key_hint(tt.source))
    columns = {}
    with green.cursor() as cur:
        for g, mapping in tt.targets.items():
            ginfo = table_info(cur, g)
            if ginfo is None:
                raise TransformError(f"transform check: green has no table {g}; "
                                     "run the migrations on green first")
            if set(ginfo.primary_key) != set(mapping):
                raise TransformError(
                    f"transform check: {g} is keyed by {list(mapping)} in the transform, "
                    f"but its primary key on green is {list(ginfo.primary_key)}"
                )
            extra = set((tt.sql or {}).get(g, ())) - set(ginfo.columns)
            if extra:
                raise TransformError(f"transform check: SQL f for {tt.source} writes column(s) "
                                     f"{', '.join(sorted(extra))} that green's {g} lacks")
            columns[g] = ginfo
    return info, columns


class _SqlForward:
    """A SQL f, run by blue on one row given as Python values (a sampled row, or one
    generated from the column types): green's rows, decoded as replay decodes them."""

    def __init__(self, conn, tt: TableTransform, info: TableInfo,
                 greens: dict[str, TableInfo]) -> None:
        self.conn, self.tt, self.info = conn, tt, info
        self.outputs = []
        # jsonb columns, which compare as values: '{"a": "ü"}' from SQL is
        # '{"a": "\\u00fc"}' from json.dumps, and both store the same jsonb.
        self.jsonb = {g: {c for c, oid in zip(greens[g].columns, greens[g].type_oids,
                                              strict=True) if oid == JSONB_OID}
                      for g in tt.targets}
        exprs: list[str] = []
        for g in tt.targets:
            ginfo = greens[g]
            cols, es = tt.sql_select(g, ginfo.builtin_types())
            exprs += es
            self.outputs.append((g, cols, [decoder(ginfo.type_oids[ginfo.columns.index(c)])
                                           for c in cols]))
        alias = sql_alias(tt.source)
        # Around the row's VALUES, which alone is given the values: the expressions
        # are the user's SQL, where a % is an operator, not a parameter.
        self.around = (f"SELECT {', '.join(exprs)} FROM (",
                       f") AS {alias}({', '.join(map(quote_ident, info.columns))})")

    def __call__(self, row: Row) -> dict[str, Row | None]:
        try:
            fields = _copied(self.conn, self.info, row, self.around)
        except psycopg2.Error as exc:
            key = tuple(row.get(c) for c in self.tt.key)
            raise TransformError(f"transform check: SQL f for {self.tt.source} fails on blue "
                                 f"for key {key}: {first_line(exc)}") from None
        out: dict[str, Row | None] = {}
        at = 0
        for g, cols, decoders in self.outputs:
            values = fields[at:at + len(cols)]
            at += len(cols)
            out[g] = {c: None if v is None else dec(v) for c, dec, v in
                      zip(cols, decoders, values, strict=True)}
        return out


def _same(a, b) -> bool:
    """Equality in which NaN equals NaN, as PostgreSQL has it for floats: a NaN that
    went through f and g is still the same value."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _SqlInverse:
    """A SQL g, run by green on f's output for one row (each green table's row as a
    typed VALUES under its bare name, NULLs where f gave it none): blue's row,
    decoded as replay decodes rows. Each call in a transaction of its own."""

    def __init__(self, conn, tt: TableTransform, info: TableInfo,
                 greens: dict[str, TableInfo]) -> None:
        self.conn, self.tt, self.greens = conn, tt, greens
        self.columns, exprs = tt.inverse_select(info.columns, info.builtin_types())
        self.decoders = [decoder(info.type_oids[info.columns.index(c)]) for c in self.columns]
        self.select = f"SELECT {', '.join(exprs)} FROM "

    def __call__(self, out: dict[str, Row | None], key: tuple) -> Row | None:
        if all(row is None for row in out.values()):
            return None
        buf = io.StringIO()
        try:
            with self.conn.cursor() as cur:
                rows = []
                for g, info in self.greens.items():
                    row = out.get(g) or {}
                    values = typed_values(cur, info, info.columns,
                                          [tuple(row.get(c) for c in info.columns)])
                    rows.append(f"({values}) AS {sql_alias(g)}"
                                f"({', '.join(map(quote_ident, info.columns))})")
                # The user's SQL is not given to mogrify: a % in it is an operator.
                cur.copy_expert(f"COPY ({self.select}{', '.join(rows)}) TO STDOUT", buf)
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise TransformError(f"transform check: SQL g for {self.tt.source} fails on green "
                                 f"for key {key}: {first_line(exc)}") from None
        fields = parse_copy_line(buf.getvalue().rstrip("\n"))
        return {**dict(zip(self.tt.key, key, strict=True)),
                **{c: None if v is None else dec(v)
                   for c, dec, v in zip(self.columns, self.decoders, fields, strict=True)}}


@dataclass(frozen=True)
class _Sql:
    """The table's f and g where they are SQL (None where they are Python)."""

    f: _SqlForward | None
    g: _SqlInverse | None


def _prove(tt: TableTransform, row: Row, columns: dict[str, set[str]], sql: _Sql) -> None:
    key = tuple(row.get(c) for c in tt.key)
    out = _python_f(tt, row, key) if sql.f is None else _sql_f(tt, row, key, sql.f)
    for g, new in out.items():
        if new is None:
            continue
        extra = set(new) - columns[g]
        if extra:
            raise TransformError(f"transform check: f for {tt.source} writes column(s) "
                                 f"{', '.join(sorted(extra))} that green's {g} lacks")
        if tt.target_key(g, key) != tuple(new.get(c) for c in tt.targets[g]):
            raise TransformError(f"transform check: f for {tt.source} gives {g} a key that "
                                 f"is not the mapped key of {key}")
    if not tt.has_inverse:
        raise TransformError(f"transform check: {tt.source} has no inverse g")
    if sql.g is not None:
        back = sql.g(out, key)
        if not _same(back, sql.g(out, key)):
            raise TransformError(f"transform check: SQL g for {tt.source} gave two answers "
                                 f"for key {key}; use no volatile functions (now(), random())")
    else:
        back = inverse_row(tt, copy.deepcopy(out), key)
        if not _same(back, inverse_row(tt, copy.deepcopy(out), key)):
            raise TransformError(f"transform check: g for {tt.source} gave two answers for "
                                 f"key {key}; g must be deterministic")
    if not _same(back, row):
        diff = sorted(c for c in set(row) | set(back or {})
                      if not _same((back or {}).get(c), row.get(c)))
        raise TransformError(
            f"transform check: g(f(row)) != row for {tt.source} key {key}: columns "
            f"{', '.join(diff)} differ ({', '.join(f'{c}={row.get(c)!r}' for c in diff)})",
            "make g the exact inverse of f for such rows, or change f",
        )


def _python_f(tt: TableTransform, row: Row, key: tuple) -> dict[str, Row | None]:
    frozen = copy.deepcopy(row)
    out = forward_rows(tt, row)
    if not _same(row, frozen):
        raise TransformError(f"transform check: f for {tt.source} changed its input row "
                             f"(key {key}); f must be pure")
    if not _same(forward_rows(tt, copy.deepcopy(row)), out):
        raise TransformError(f"transform check: f for {tt.source} gave two answers for key "
                             f"{key}; f must be deterministic")
    return out


def _sql_f(tt: TableTransform, row: Row, key: tuple, sql_f: _SqlForward
           ) -> dict[str, Row | None]:
    out = sql_f(row)
    if not _same(sql_f(row), out):
        raise TransformError(f"transform check: SQL f for {tt.source} gave two answers for "
                             f"key {key}; use no volatile functions (now(), random(), ...)")
    if tt.forward is None:
        return out
    reference = _python_f(tt, row, key)
    for g in out:
        new = _as_values(out[g], sql_f.jsonb[g])
        ref = _as_values(reference.get(g), sql_f.jsonb[g])
        if not _same(new, ref):
            diff = sorted(c for c in set(new or {}) | set(ref or {})
                          if not _same((new or {}).get(c), (ref or {}).get(c)))
            raise TransformError(
                f"transform check: SQL f for {tt.source} differs from its Python reference "
                f"on key {key}, in {g}: "
                + ", ".join(f"{c}: SQL {(new or {}).get(c)!r}, Python {(ref or {}).get(c)!r}"
                            for c in diff),
                "make the SQL and the reference agree on such rows (replay runs the SQL)",
            )
    return out


def _as_values(row: Row | None, jsonb: set[str]) -> Row | None:
    """`row` with its jsonb columns parsed, where they hold JSON text."""
    if row is None or not jsonb:
        return row
    return {c: json.loads(v) if c in jsonb and isinstance(v, str) else v
            for c, v in row.items()}


def _sample(conn, info: TableInfo, limit: int) -> list[Row]:
    cols = ", ".join(map(quote_ident, info.columns))
    buf = io.StringIO()
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {cols} FROM {quote_table(info.name)} ORDER BY random()"
                        f" LIMIT {int(limit)}) TO STDOUT", buf)
    return [info.row(parse_copy_line(line)) for line in buf.getvalue().splitlines()]


def _strategy(type_oid: int):
    if type_oid == 20:
        return st.integers(-(2**63), 2**63 - 1)
    if type_oid == 23:
        return st.integers(-(2**31), 2**31 - 1)
    if type_oid == 21:
        return st.integers(-(2**15), 2**15 - 1)
    if type_oid == 1700:
        return st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2,
                           allow_nan=False, allow_infinity=False)
    if type_oid in (25, 1043):
        return TEXT
    if type_oid == 16:
        return st.booleans()
    if type_oid in (700, 701):  # NaN and the infinities are values PostgreSQL stores
        return st.floats(width=32 if type_oid == 700 else 64)
    if type_oid == 2950:
        return st.uuids().map(str)
    if type_oid == 1082:
        return st.dates().map(lambda d: d.isoformat())
    # isoformat, not strftime: %Y prints the year 94 as "94", which PostgreSQL refuses.
    if type_oid == 1114:
        return st.datetimes().map(lambda d: d.isoformat(" ", "microseconds"))
    if type_oid == 1184:
        return st.datetimes().map(lambda d: d.isoformat(" ", "microseconds") + "+00")
    return None


class _AsStored:
    """A generated row as replay would read it: stored by blue in its columns' types
    and printed back by COPY. A real keeps only float4's digits, a timestamp loses
    its trailing zeros: f (in Python or SQL) sees what it will see in replay."""

    def __init__(self, conn, info: TableInfo) -> None:
        self.conn, self.info = conn, info

    def __call__(self, row: Row) -> Row | None:
        """None for a row blue cannot store (a numeric over its column's precision):
        not a row f will ever meet."""
        try:
            fields = _copied(self.conn, self.info, row)
        except psycopg2.DataError:
            return None
        except psycopg2.Error as exc:
            raise TransformError(f"transform check: blue cannot store a row generated for "
                                 f"{self.info.name}: {first_line(exc)}",
                                 "a fault of the check, not of the transform: report it") from None
        return self.info.row(fields)


def _copied(conn, info: TableInfo, row: Row, around: tuple[str, str] = ("", "")
            ) -> list[str | None]:
    """`row` as a typed VALUES (inside `around`, a query over it), as COPY prints it:
    as replay reads it (a char(n) keeps its blanks there, and loses them in a cast to
    text). Each in a transaction of its own, so now() differs between two calls."""
    buf = io.StringIO()
    try:
        with conn.cursor() as cur:
            values = typed_values(cur, info, info.columns, [tuple(row[c] for c in info.columns)])
            cur.copy_expert(f"COPY ({around[0]}{values}{around[1]}) TO STDOUT", buf)
        conn.commit()
    except psycopg2.Error:
        conn.rollback()
        raise
    return parse_copy_line(buf.getvalue().rstrip("\n"))


def _row_strategies(info: TableInfo, report: TableReport, sampled: list[Row]
                    ) -> dict[str, st.SearchStrategy] | None:
    """A strategy per column: from its type, else from the sampled rows (or NULL, where
    allowed). None, with a note, when a column can take neither."""
    strategies = {}
    borrowed, missing = [], []
    for column, oid in zip(info.columns, info.type_oids, strict=True):
        strategy = _strategy(oid)
        if strategy is None:
            seen = [row[column] for row in sampled]
            if seen:
                strategy = st.sampled_from(seen)
            elif column not in info.not_null:
                strategy = st.none()
            else:
                missing.append(column)
                continue
            borrowed.append(column)
        strategies[column] = strategy
    if missing:
        report.notes.append(f"not generated (no sampled values of {', '.join(missing)}, whose "
                            "types greenswap cannot generate); proved on sampled rows only")
        return None
    if borrowed:
        report.notes.append(f"{', '.join(borrowed)}: sampled values in generated rows (types "
                            "greenswap cannot generate)")
    return strategies


def _generated(tt, info: TableInfo, columns, examples: int, report: TableReport,
               sampled: list[Row], sql: _Sql, as_stored: _AsStored) -> int:
    """Rows generated from the column types. A column of a type it cannot generate
    takes the values seen in the sampled rows (or NULL, where allowed): skipped per
    column, not per table."""
    strategies = _row_strategies(info, report, sampled)
    if strategies is None:
        return 0
    count = [0]

    @settings(max_examples=examples, database=None, deadline=None, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(st.fixed_dictionaries(strategies))
    def prove(row):
        stored = as_stored(row)
        if stored is None:
            reject()  # Hypothesis draws another
        count[0] += 1
        _prove(tt, stored, columns, sql)

    # Hypothesis keeps caches in ./.hypothesis: a check writes nothing where it is run.
    with tempfile.TemporaryDirectory(prefix="greenswap-check-") as scratch:
        set_hypothesis_home_dir(scratch)
        try:
            prove()
        except TransformError:
            raise
        except Exception as exc:  # Hypothesis's own: a failure it could not repeat
            raise TransformError(f"transform check: f or g for {tt.source} failed on a row,"
                                 f" then not on the same row again ({type(exc).__name__})",
                                 "f and g must be pure: no state, clock, randomness or I/O"
                                 ) from None
        finally:
            set_hypothesis_home_dir(None)
    return count[0]
