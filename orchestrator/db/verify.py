"""Verify: does the target hold exactly the transform of the source?

Forward checks green == f(blue); reverse checks blue == g(green). For each blue
table, the source's rows stream through the transform into temp tables on the
checked side, the way the snapshot copies them (pipeline.py: COPY out, Python,
COPY in, overlapped), and that server then compares the two with one full join on
the key per table. So:

- every key type compares as itself (a uuid, a timestamp, a (text, date) pair);
- values compare by their column type's own equality (1.5 == 1.50 in a numeric,
  'a ' == 'a' in a char(n)), or by their text where a type has none (json);
- only the columns the transform produces are compared; the rest are green's own;
- memory stays flat: rows stream through in chunks, and the expected rows live in
  the checked server's temp tables, dropped with its transaction, which is rolled
  back: verify writes nothing that outlives it.

A row missing on either side, or one that differs, is a mismatch; the first
MAX_LISTED per table are listed by key, the rest counted. The two sides are read
one after the other, so an exact answer needs a quiet source (writers fenced,
replay caught up); on a live source, mismatches are candidates to check again once
replay has passed them (`recheck`).

(Summing row hashes on both servers instead of joining was tried: on two cores it
took 22 s for 1M keys against the join's 13 s, the servers' row-to-text being the
cost. docs/PERFORMANCE.md has the figures.)
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2
import psycopg2.errors

from orchestrator.db.catalog import (
    TableInfo,
    key_hint,
    key_problem,
    quote_ident,
    quote_table,
    table_info,
    typed_values,
)
from orchestrator.db.connect import connect
from orchestrator.db.mapping import inverse_row
from orchestrator.db.pipeline import Convert, Pipeline, forward_chunk
from orchestrator.db.transform import TableTransform, Transform
from orchestrator.db.values import copy_line, decoder, parse_copy_line
from orchestrator.errors import ReplayRefused

MAX_LISTED = 1000
SET_COLUMN = "gs_set"  # which column set of f's (or g's) output a kept row holds
# The join pass keeps expected rows in a temp table and hash-joins them with the
# real ones: with the defaults (8 MB, 4 MB) both spill to disk.
SESSION = "SET temp_buffers = '256MB'; SET work_mem = '128MB'"
Progress = Callable[[str, int], None]  # (source table, rows streamed so far)


@dataclass(frozen=True)
class Mismatch:
    table: str  # the green table (forward) or blue table (reverse)
    key: tuple  # in the order of blue's key
    kind: str  # missing (expected, not there), extra (there, not expected), differs


@dataclass
class VerifyResult:
    direction: str
    keys: int = 0  # rows compared: expected rows, and rows found only on the target
    mismatches: list[Mismatch] = field(default_factory=list)
    unlisted: int = 0  # mismatches beyond MAX_LISTED per table, counted only
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def count(self) -> int:
        return len(self.mismatches) + self.unlisted


def verify(blue_dsn: str, green_dsn: str, transform: Transform, direction: str = "forward",
           only: dict[str, list[tuple]] | None = None,
           progress: Progress = lambda _t, _n: None) -> VerifyResult:
    """Compare every table of `transform`, or with `only`, just those blue tables and
    entity keys (a recheck)."""
    started = time.monotonic()
    blue, green = _Side(blue_dsn, "blue"), _Side(green_dsn, "green")
    result = VerifyResult(direction)
    try:
        for tt in transform.tables.values():
            if only is None or tt.source in only:
                try:
                    _verify_table(tt, blue, green, direction, only, progress, result)
                finally:
                    (green if direction == "forward" else blue).conn.rollback()  # temps go
    finally:
        blue.close()
        green.close()
    result.seconds = time.monotonic() - started
    return result


def _verify_table(tt: TableTransform, blue: _Side, green: _Side, direction: str,
                  only: dict[str, list[tuple]] | None, progress: Progress,
                  result: VerifyResult) -> None:
    source, checked = (blue, green) if direction == "forward" else (green, blue)
    keys = None if only is None else only[tt.source]
    plan = (_forward if direction == "forward" else _reverse)(tt, blue, green, keys)
    joined = [_Joined(checked, t, order, keys) for t, order in plan.checked]
    _stream(source, plan, tt.source, progress, joined)
    for table in joined:
        table.compare()
        result.keys += table.expected + table.extra
        result.mismatches += table.listed
        result.unlisted += table.unlisted


def _stream(source: _Side, plan: _Plan, name: str, progress: Progress,
            tables: list[_Joined]) -> None:
    """The source's rows through the transform, each chunk to its checked table."""
    by_name = {t.table: t for t in tables}
    try:
        Pipeline(source.conn.cursor(), plan.query, plan.convert,
                 lambda table, cols, text: by_name[table].expect(cols, text),
                 f"verify of {name}", lambda n: progress(name, n)).run()
    finally:
        source.conn.rollback()


def recheck(blue_dsn: str, green_dsn: str, transform: Transform, mismatches: list[Mismatch],
            direction: str = "forward") -> list[Mismatch]:
    """Compare again only the entities that mismatched: on a live source most are
    changes still in flight, gone once the target has caught up."""
    only: dict[str, list[tuple]] = {}
    # A key with a NULL in it (f gave a row no key) matches nothing when asked for
    # again: it stays a mismatch rather than pass for resolved.
    unkeyed = [m for m in mismatches if None in m.key]
    for m in mismatches:
        if None not in m.key:
            tt = (transform.owner_of(m.table) if direction == "forward"
                  else transform.tables[m.table])
            only.setdefault(tt.source, []).append(m.key)
    if not only:
        return unkeyed
    return unkeyed + verify(blue_dsn, green_dsn, transform, direction, only).mismatches


@dataclass
class _Plan:
    query: str  # the source rows, as one SELECT
    convert: Convert  # a chunk of its COPY lines -> expected rows by table
    checked: list[tuple[str, tuple[str, ...]]]  # tables compared, key columns in blue order


def _forward(tt: TableTransform, blue: _Side, green: _Side, keys: list[tuple] | None) -> _Plan:
    info = blue.info(tt.source)
    query = (f"SELECT {', '.join(map(quote_ident, info.columns))} FROM {quote_table(info.name)}"
             + _restrict(blue, info, [quote_ident(c) for c in tt.key], tt.key, keys))
    for g in tt.targets:
        green.info(g)  # refused now, before any work, if it does not exist
    return _Plan(query, forward_chunk(info, tt), [(g, _blue_order(tt, g)) for g in tt.targets])


def _reverse(tt: TableTransform, blue: _Side, green: _Side, keys: list[tuple] | None) -> _Plan:
    """g's input is all of a key's green rows: the green tables, fully joined on
    the key, come out as one stream of entities."""
    tables = list(tt.targets)
    infos = [green.info(g) for g in tables]
    first = infos[0]
    first_order = _blue_order(tt, tables[0])

    def key_of(alias: int, i: int) -> str:
        column = f"t{alias}.{quote_ident(_blue_order(tt, tables[alias])[i])}"
        # Green tables may type the same key differently (int here, bigint there).
        return column if alias == 0 else f"{column}::{first.type_of(first_order[i])}"

    def joined_key(upto: int, i: int) -> str:
        parts = [key_of(a, i) for a in range(upto)]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    selects, source = [], f"{quote_table(tables[0])} t0"
    for a, info in enumerate(infos):
        selects += [f"t{a}.{quote_ident(c)}" for c in info.columns]
        if a:
            on = " AND ".join(f"{joined_key(a, i)} = {key_of(a, i)}" for i in range(len(tt.key)))
            source += f" FULL JOIN {quote_table(tables[a])} t{a} ON {on}"
    entity = [joined_key(len(infos), i) for i in range(len(tt.key))]
    query = (f"SELECT {', '.join(selects)} FROM {source}"
             + _restrict(green, first, entity, first_order, keys))
    blue.info(tt.source)
    return _Plan(query, _inverse_chunk(tt, tables, infos), [(tt.source, tt.key)])


def _inverse_chunk(tt: TableTransform, tables: list[str], infos: list[TableInfo]) -> Convert:
    spans, start = [], 0
    for table, info in zip(tables, infos, strict=True):
        order = _blue_order(tt, table)
        spans.append((table, info, start, start + len(info.columns),
                       start + info.columns.index(order[0]), order))
        start += len(info.columns)

    def convert(chunk: list[str]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for line in chunk:
            fields = parse_copy_line(line)
            rows, key = {}, None
            for table, info, begin, end, first_key, order in spans:
                # A key column is never NULL: NULL there means no row in this table.
                row = None if fields[first_key] is None else info.row(fields[begin:end])
                rows[table] = row
                if key is None and row is not None:
                    key = tuple(row[c] for c in order)
            assert key is not None  # the join's row came from one table at least
            back = inverse_row(tt, rows, key)
            if back is not None:
                groups.setdefault((tt.source, tuple(back)), []).append(
                    copy_line(list(back.values())))
        return groups
    return convert


def _blue_order(tt: TableTransform, green_table: str) -> tuple[str, ...]:
    """Green's key columns in the order of blue's key columns."""
    by_blue = {blue: green for green, blue in tt.targets[green_table].items()}
    return tuple(by_blue[c] for c in tt.key)


def _restrict(side: _Side, info: TableInfo, exprs: list[str], columns: tuple[str, ...],
              keys: list[tuple] | None) -> str:
    """A WHERE clause keeping only `keys` (None: everything), each value cast to its
    column's type."""
    if keys is None:
        return ""
    if not keys:
        return " WHERE false"
    return f" WHERE ({', '.join(exprs)}) IN ({side.values(info, columns, keys)})"


class _Side:
    """One database being verified: its table descriptions and how its types
    compare."""

    def __init__(self, dsn: str, name: str) -> None:
        self.name = name
        self.conn = connect(dsn, f"verify-{name}")
        with self.conn.cursor() as cur:
            cur.execute(SESSION)  # before any temp table: temp_buffers is fixed then
        self.conn.commit()
        self.infos: dict[str, TableInfo] = {}
        self.has_equality: dict[str, bool] = {}
        self.temps = 0

    def info(self, table: str) -> TableInfo:
        if table not in self.infos:
            with self.conn.cursor() as cur:
                info = table_info(cur, table)
            if info is None:
                raise ReplayRefused(f"verify: {self.name} has no table {table}",
                                    "check the transform's table names and the migrations")
            if not info.primary_key:
                raise ReplayRefused(f"verify: {self.name}'s {key_problem(info, ())}",
                                    key_hint(table))
            self.infos[table] = info
        return self.infos[table]

    def values(self, info: TableInfo, columns: tuple[str, ...], keys: list[tuple]) -> str:
        with self.conn.cursor() as cur:
            return typed_values(cur, info, columns, keys)

    def temp_like(self, table: str) -> str:
        """An empty temp table with `table`'s columns and types (typmods too, so a value
        is coerced exactly as a write to the table would coerce it), and SET_COLUMN."""
        self.temps += 1
        temp = f"gs_verify_{self.temps}"
        cols = ", ".join(map(quote_ident, self.info(table).columns))
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM"
                        f" {quote_table(table)} WITH NO DATA;"
                        f" ALTER TABLE {temp} ADD COLUMN {SET_COLUMN} smallint")
        return temp

    def copy_in(self, temp: str, cols: tuple[str, ...], text: str) -> None:
        with self.conn.cursor() as cur:
            # One read for the whole chunk, as apply.py sends its batches.
            cur.copy_expert(f"COPY {temp} ({', '.join(map(quote_ident, cols))}) FROM STDIN",
                            io.StringIO(text), size=len(text) + 1)

    def distinct(self, info: TableInfo, column: str) -> str:
        """SQL: expected row e and actual row a differ in `column`."""
        c = quote_ident(column)
        if self._equality(info.type_of(column)):
            return f"e.{c} IS DISTINCT FROM a.{c}"
        return f"e.{c}::text IS DISTINCT FROM a.{c}::text"  # json, point, xml...

    def _equality(self, type_name: str) -> bool:
        """Whether the type has an = operator. Asked of the server: it knows about
        domains, arrays and extensions' types."""
        if type_name.endswith("[]"):  # arrays compare by their elements' operator,
            # which the parser does not check: NULL::json[] = NULL::json[] is accepted
            return self._equality(type_name[:-2]) and self._probe(type_name)
        return self._probe(type_name)

    def _probe(self, type_name: str) -> bool:
        if type_name not in self.has_equality:
            with self.conn.cursor() as cur:
                cur.execute("SAVEPOINT probe")
                try:
                    cur.execute(f"SELECT NULL::{type_name} IS DISTINCT FROM NULL::{type_name}")
                    self.has_equality[type_name] = True
                except psycopg2.errors.UndefinedFunction:
                    self.has_equality[type_name] = False
                cur.execute("ROLLBACK TO SAVEPOINT probe")
        return self.has_equality[type_name]

    def close(self) -> None:
        self.conn.close()


class _Joined:
    """One checked table: the expected rows kept in a temp table, then one full join."""

    def __init__(self, side: _Side, table: str, order: tuple[str, ...],
                 keys: list[tuple] | None) -> None:
        self.side, self.table, self.order = side, table, order
        self.info = info = side.info(table)
        self.temp = side.temp_like(table)
        self.actual = quote_table(table)
        self.key = [quote_ident(c) for c in order]
        if keys is not None:  # a recheck: only these keys count on the checked side
            self.actual = (f"(SELECT * FROM {self.actual}"
                           f"{_restrict(side, info, self.key, order, keys)})")
        self.sets: dict[tuple[str, ...], int] = {}
        self.current: int | None = None
        self.expected = self.extra = self.unlisted = 0
        self.listed: list[Mismatch] = []

    def expect(self, cols: tuple[str, ...], text: str) -> None:
        index = self.sets.setdefault(cols, len(self.sets))
        if self.current != index:
            # Rows COPY'd with this column set say so through the default: no extra
            # field per line, and the lines go in as the snapshot writes them.
            with self.side.conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {self.temp} ALTER {SET_COLUMN} SET DEFAULT {index}")
            self.current = index
        self.side.copy_in(self.temp, cols, text)
        self.expected += text.count("\n")

    def compare(self) -> None:
        on = " AND ".join(f"e.{k} = a.{k}" for k in self.key)
        query = (
            f"SELECT {', '.join(f'coalesce(e.{k}, a.{k})' for k in self.key)},"
            f" e.{SET_COLUMN} IS NULL AS only_here, a.{self.key[0]} IS NULL AS missing"
            f" FROM {self.temp} e FULL JOIN {self.actual} a ON {on}"
            f" WHERE e.{SET_COLUMN} IS NULL OR a.{self.key[0]} IS NULL OR {self._differs()}")
        decoders = [decoder(self.info.type_oids[self.info.columns.index(c)])
                    for c in self.order]
        buf = io.StringIO()
        with self.side.conn.cursor() as cur:
            # COPY's text, as every row is read elsewhere (a boolean is t, not true);
            # the first MAX_LISTED listed, the rest only counted.
            cur.copy_expert(f"COPY ({query} LIMIT {MAX_LISTED}) TO STDOUT", buf)
            for line in buf.getvalue().splitlines():
                *values, only_here, missing = parse_copy_line(line)
                self.extra += only_here == "t"
                kind = "extra" if only_here == "t" else "missing" if missing == "t" else "differs"
                self.listed.append(Mismatch(self.table, tuple(
                    None if v is None else d(v) for d, v in zip(decoders, values, strict=True)),
                    kind))
            if len(self.listed) == MAX_LISTED:
                cur.execute(f"SELECT count(*), count(*) FILTER (WHERE only_here) FROM ({query}) m")
                total, extra = cur.fetchone()
                self.unlisted, self.extra = total - MAX_LISTED, extra

    def _differs(self) -> str:
        """SQL, true when an expected row differs from the actual one in the columns
        its set (the transform's output for that row) has."""
        cases = []
        for cols, index in self.sets.items():
            tests = [self.side.distinct(self.info, c) for c in cols
                     if c not in self.info.primary_key]
            cases.append(f"WHEN {index} THEN {' OR '.join(tests) or 'false'}")
        return f"(CASE e.{SET_COLUMN} {' '.join(cases)} ELSE false END)" if cases else "false"
