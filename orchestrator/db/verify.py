"""Verify: does the target hold exactly the transform of the source?

Forward checks green == f(blue); reverse checks blue == g(green). Both sides are
compared as of one point in the source's change log (`verify_at_point`), so a row
updated many times a second compares equal exactly when replay is right:

1. The replay stream is held here (its background replayer stopped first), and a
   temporary slot gives a point in the log and a snapshot of the source exactly as
   of it (point.py). The source side of verify imports that snapshot.
2. The stream applies every transaction that committed at or before the point,
   none after (Stream.run with until_lsn), and the target side of verify takes its
   own REPEATABLE READ snapshot: the target exactly as of the same point.
   Where replay reads the source's current rows (g's input in reverse, unchanged
   TOAST values forward), it reads them under the point's snapshot too.
3. The stream goes on (`resumed`); the app never waits for any of this. The two
   snapshots are compared at leisure.

So a mismatch is real. `verify` (at once) reads each side as it is when read: exact
only on a quiet source (writers stopped, replay caught up).

The comparison: for each blue table, the source's rows stream through the transform
into temp tables on the checked side, the way the snapshot copies them (pipeline.py:
COPY out, Python, COPY in, overlapped), and that server compares the two with a
full join on the key per table. Where both sides sort the key alike (ORDERED_TYPES),
the source is read in key order and each RANGE_ROWS of it is joined as soon as it
is in, while the rest streams: the join leaves the tail, and a temp table holds one
range, not all of f(blue). Otherwise, one join at the end. So:

- every key type compares as itself (a uuid, a timestamp, a (text, date) pair);
- values compare by their column type's own equality (1.5 == 1.50 in a numeric,
  'a ' == 'a' in a char(n)), or by their text where a type has none (json);
- only the columns the transform produces are compared; the rest are green's own;
- memory stays flat: rows stream through in chunks, the expected rows live in the
  checked server's temp tables, and both transactions are rolled back: verify
  writes nothing that outlives it.
- the source's rows are read in key order (ranged), so text keys, whose order
  depends on each server's collation, are compared all at once.

A row missing on either side, or one that differs, is a mismatch; the first
MAX_LISTED per table are listed by key, the rest counted, and the first MAX_SHOWN
are explained: the source's row, f's (or g's) output, the target's row, the
columns that differ, and the likely cause where the rows tell it (`Mismatch.cause`).

(Summing row hashes on both servers instead of joining was tried: on two cores it
took 22 s for 1M keys against the join's 13 s, the servers' row-to-text being the
cost. docs/PERFORMANCE.md has the figures.)
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2
import psycopg2.errors

from orchestrator.db.apply import SCHEMA
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
from orchestrator.db.connect import connect
from orchestrator.db.inverse import inverse_queries
from orchestrator.db.mapping import forward_rows, inverse_row
from orchestrator.db.mismatch import (
    CAUSE_OUTSIDE,
    CAUSE_TRANSFORM,
    MAX_SHOWN,
    SIDES,
    Mismatch,
    VerifyResult,
)
from orchestrator.db.pipeline import (
    QUEUE_DEPTH,
    Convert,
    Pipeline,
    forward_source,
    split_chunk,
    sql_from,
)
from orchestrator.db.point import Point, point_in_log
from orchestrator.db.replayer import Replay
from orchestrator.db.stream import DEFAULT_MAX_SLOT_WAL
from orchestrator.db.transform import TableTransform, Transform, as_blue
from orchestrator.db.values import copy_line, decoder, parse_copy_line
from orchestrator.db.visibility import Snapshot
from orchestrator.errors import ReplayError, ReplayRefused

MAX_LISTED = 1000
CATCH_UP_S = 300.0  # for the stream to reach verify's point
SET_COLUMN = "gs_set"  # which column set of f's (or g's) output a kept row holds
# Compared a key range at a time, beside the stream, when both sides order the key
# alike: each range's join runs on the checked server while Python converts the
# next rows (the queue between them holds RANGE_QUEUE chunks).
RANGE_ROWS = 50_000
RANGE_QUEUE = 16
BOUND = "gs bound"  # a convert's extra group: the chunk's last source line
# Key types whose order is the same on any server (no collation): a source key of
# one and a checked key of the same (or both integers) sort alike.
ORDERED_TYPES = {"smallint", "integer", "bigint", "numeric", "uuid", "date",
                 "timestamp without time zone", "timestamp with time zone"}
INTEGERS = {"smallint", "integer", "bigint"}
# The join pass keeps expected rows in a temp table and hash-joins them with the
# real ones: with the defaults (8 MB, 4 MB) both spill to disk.
SESSION = "SET temp_buffers = '256MB'; SET work_mem = '128MB'"
Progress = Callable[[str, int], None]  # (source table, rows streamed so far)
def verify(blue_dsn: str, green_dsn: str, transform: Transform, direction: str = "forward",
           progress: Progress = lambda _t, _n: None) -> VerifyResult:
    """Compare every table of `transform`, each side as it is when read: exact when
    the source is quiet (writers stopped, replay caught up)."""
    started = time.monotonic()
    blue = _Side(blue_dsn, "blue")
    try:
        green = _Side(green_dsn, "green")
    except BaseException:
        blue.close()
        raise
    try:
        source, checked = (blue, green) if direction == "forward" else (green, blue)
        source.hold()
        checked.hold()
        return _compare(blue, green, transform, direction, progress, started)
    finally:
        blue.close()
        green.close()


def verify_at_point(replay: Replay, resumed: Callable[[], None] = lambda: None,
                    progress: Progress = lambda _t, _n: None, catch_up_s: float = CATCH_UP_S,
                    max_slot_wal: int = DEFAULT_MAX_SLOT_WAL) -> VerifyResult:
    """Compare both sides as of one point in the source's log, on a live source.

    `replay` holds the stream (no other replayer may run it). It is taken to the
    point; `resumed` is called once, as soon as both sides' snapshots are held (or
    verify has failed before), to let the stream go on (it must close `replay`
    first)."""
    started = time.monotonic()
    sides: list[_Side] = []
    going_on = False
    try:
        if replay.target.position() is None:
            raise ReplayRefused(
                f"verify at one point needs stream {replay.stream}'s position on the target,"
                " and it has none", "start the replayer first; with the source's writers"
                " stopped, 'greenswap replay verify --at-once' compares without one")
        source, target = SIDES[replay.direction][:2]
        sides.append(source_side := _Side(replay.source_dsn, source))
        sides.append(checked := _Side(replay.target_dsn, target))
        with point_in_log(replay.source_dsn, f"{replay.stream}_v") as point:
            source_side.hold(point.snapshot)
            _replay_to(replay, point, catch_up_s, max_slot_wal)
            checked.hold()
        copy = _Copy.read(checked, replay.stream) if replay.direction == "forward" else None
        going_on = True
        resumed()
        blue, green = ((source_side, checked) if replay.direction == "forward"
                       else (checked, source_side))
        result = _compare(blue, green, replay.transform, replay.direction, progress, started,
                          copy)
        result.lsn = point.lsn
        return result
    finally:
        for side in sides:
            side.close()
        if not going_on:
            resumed()


def _replay_to(replay: Replay, point: Point, deadline_s: float, max_slot_wal: int) -> None:
    """The target gets every transaction committed at or before the point, none after.
    Where replay reads the source's rows (g's input, unchanged TOAST values), it reads
    them as of the point too: now, they may hold changes from after it. (The
    background replayer's reads were all taken before the point was.)"""
    stop = threading.Event()
    timer = threading.Timer(deadline_s, stop.set)
    timer.start()
    try:
        stats = replay.stream_changes(stop, until_lsn=point.lsn, fast=True,
                                      max_slot_wal=max_slot_wal, as_of=point.snapshot)
    finally:
        timer.cancel()
    if stats.applied_lsn < point.lsn:
        raise ReplayError(f"replay did not reach verify's point within {deadline_s:g}s",
                          "check the replayer's lag ('greenswap replay status'), then verify"
                          " again")
    if stats.applied_lsn > point.lsn:  # another replayer ran the stream past it
        raise ReplayError(f"stream {replay.stream} was past verify's point",
                          "make sure no other replayer runs the stream, then verify again")


def _compare(blue: _Side, green: _Side, transform: Transform, direction: str,
             progress: Progress, started: float, copy: _Copy | None = None) -> VerifyResult:
    result = VerifyResult(direction)
    for tt in transform.tables.values():
        _verify_table(tt, blue, green, direction, progress, result)
    explain = _explain_forward if direction == "forward" else _explain_reverse
    result.mismatches[:MAX_SHOWN] = [explain(m, transform, blue, green, copy)
                                     for m in result.mismatches[:MAX_SHOWN]]
    result.seconds = time.monotonic() - started
    return result


def _verify_table(tt: TableTransform, blue: _Side, green: _Side, direction: str,
                  progress: Progress, result: VerifyResult) -> None:
    source, checked = (blue, green) if direction == "forward" else (green, blue)
    plan = (_forward if direction == "forward" else _reverse)(tt, blue, green)
    joined = [_Joined(checked, t, order) for t, order in plan.checked]
    # Reverse reads a full join of green's tables, unordered: in key order only when
    # there is one table (else the live source would sort all of it).
    ranged = (len(tt.targets) == 1 or direction == "forward") and all(
        _ordered_alike(plan.key_types, j.key_types) for j in joined)
    _stream(source, plan, tt.source, progress, joined, ranged)
    for table in joined:
        table.compare()  # the last range, or all of it
        table.close()
        result.keys += table.expected + table.extra
        result.mismatches += table.listed
        result.unlisted += table.unlisted


def _stream(source: _Side, plan: _Plan, name: str, progress: Progress,
            tables: list[_Joined], ranged: bool) -> None:
    """The source's rows through the transform, each chunk to its checked table.
    Ranged, they come in key order, and every chunk ends with its last key, up to
    which each checked table can be compared while the rest streams."""
    by_name = {t.table: t for t in tables}
    convert, query = plan.convert, plan.query

    def write(table: str, cols: tuple[str, ...], text: str) -> None:
        if table != BOUND:
            by_name[table].expect(cols, text)
            return
        key = plan.key_of(parse_copy_line(text.rstrip("\n")))
        for t in tables:
            t.reached(key)

    if ranged:
        def convert(chunk: list[str]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
            groups = plan.convert(chunk)
            groups[(BOUND, ())] = [chunk[-1]]  # after the chunk's rows: dicts keep order
            return groups
        query = f"{plan.query} ORDER BY {', '.join(plan.key_exprs)}"
    Pipeline(source.conn.cursor(), query, convert, write, f"verify of {name}",
             lambda n: progress(name, n), depth=RANGE_QUEUE if ranged else QUEUE_DEPTH).run()


def _ordered_alike(source: tuple[str, ...], checked: tuple[str, ...]) -> bool:
    """Whether keys of these types sort the same on both servers."""
    return all(a in ORDERED_TYPES and b in ORDERED_TYPES
               and (a == b or (a in INTEGERS and b in INTEGERS)) for a, b in
               zip(source, checked, strict=True))


@dataclass(frozen=True)
class _Copy:
    """What the stream's first copy saw on the source, and the target transaction
    that wrote it (apply.py's replay_copy)."""

    snapshot: Snapshot
    xid: int  # 32 bits, as a row's xmin shows it

    @classmethod
    def read(cls, side: _Side, stream: str) -> _Copy | None:
        with side.conn.cursor() as cur:  # the stream's TargetDB made the table
            cur.execute(f"SELECT snapshot, xid::text FROM {SCHEMA}.replay_copy"
                        " WHERE stream = %s", (stream,))
            row = cur.fetchone()
        return None if row is None else cls(Snapshot.parse(row[0]), int(row[1]) % (1 << 32))

    def untouched(self, source_xmin: int | None, target_xmin: int | None) -> str:
        """The cause a mismatch's rows tell: the source row is the one the copy saw,
        and the target row the copy wrote (so f changed) or a later one (written by
        something else: replay had nothing to write)."""
        if source_xmin is None or target_xmin is None or not self.snapshot.sees(source_xmin):
            return ""
        return CAUSE_TRANSFORM if target_xmin == self.xid else CAUSE_OUTSIDE


def _explain_forward(m: Mismatch, transform: Transform, blue: _Side, green: _Side,
                     copy: _Copy | None) -> Mismatch:
    tt = transform.owner_of(m.table)
    row, blue_xmin = blue.look_up(tt.source, tt.key, m.key)
    actual, green_xmin = green.look_up(m.table, tt.green_order(m.table), m.key)
    # f twice on the same row: two outputs prove it is not pure.
    expected = _expected(tt, row, m, blue, green) if row is not None else None
    again = _expected(tt, row, m, blue, green) if row is not None else None
    cause = (CAUSE_TRANSFORM if expected != again
             else copy.untouched(blue_xmin, green_xmin) if copy is not None else "")
    return Mismatch(m.table, m.key, m.kind, _differing(expected, actual), row, expected,
                    actual, cause)


def _expected(tt: TableTransform, row: dict, m: Mismatch, blue: _Side, green: _Side
              ) -> dict | None:
    """f of the blue row of a mismatch, for one green table: in Python, or a SQL f
    run by blue on that row."""
    if tt.sql is None:
        return forward_rows(tt, row).get(m.table)
    columns, exprs = tt.sql_select(m.table, green.info(m.table).builtin_types())
    return blue.computed(tt.source, tt.key, m.key, exprs, columns, green.info(m.table))


def _explain_reverse(m: Mismatch, transform: Transform, blue: _Side, green: _Side,
                     _copy: _Copy | None) -> Mismatch:
    tt = transform.tables[m.table]
    rows = {g: green.look_up(g, tt.green_order(g), m.key)[0] for g in tt.targets}
    present = any(r is not None for r in rows.values())
    if tt.inverse_sql is not None:
        expected, again = _inverse_sql(tt, m.key, blue, green), _inverse_sql(tt, m.key, blue, green)
    else:
        expected = inverse_row(tt, rows, m.key) if present else None
        again = inverse_row(tt, rows, m.key) if present else None  # pure: the same again
    actual, _ = blue.look_up(tt.source, tt.key, m.key)
    return Mismatch(m.table, m.key, m.kind, _differing(expected, actual), rows, expected,
                    actual, CAUSE_TRANSFORM if expected != again else "")


def _inverse_sql(tt: TableTransform, key: tuple, blue: _Side, green: _Side) -> dict | None:
    """A SQL g run by green on the key's rows, decoded as blue's row is."""
    info = blue.info(tt.source)
    query = inverse_queries([tt], {g: green.info(g) for g in tt.targets}, {tt.source: info})
    row = query[tt.source].rows(green.conn, [key]).get(key)
    if row is None:
        return None
    decoders = dict(zip(info.columns, info.decoders(), strict=True))
    return {c: decoders[c](v) if isinstance(v, str) else v for c, v in row.items()}


def _differing(expected: dict | None, actual: dict | None) -> tuple[str, ...]:
    if expected is None or actual is None:
        return tuple(expected or actual or ())
    return tuple(c for c, v in expected.items() if v != actual.get(c))


@dataclass
class _Plan:
    query: str  # the source rows, as one SELECT
    convert: Convert  # a chunk of its COPY lines -> expected rows by table
    checked: list[tuple[str, tuple[str, ...]]]  # tables compared, key columns in blue order
    key_exprs: list[str]  # the entity key in the query, in blue's key order
    key_types: tuple[str, ...]  # their types, without typmods
    key_of: Callable[[list], tuple]  # a source line's fields -> its key (text)


def _forward(tt: TableTransform, blue: _Side, green: _Side) -> _Plan:
    info = blue.info(tt.source)
    # Refused now, before any work, if one does not exist.
    query, convert = forward_source(info, tt, {g: green.info(g) for g in tt.targets})
    if tt.sql is None:
        at = [info.columns.index(c) for c in tt.key]
        key_exprs = [quote_ident(c) for c in tt.key]
    else:  # the query's columns start with the key; qualified, in case f's names shadow it
        at = list(range(len(tt.key)))
        alias = sql_alias(tt.source)
        key_exprs = [f"{alias}.{quote_ident(c)}" for c in tt.key]
    return _Plan(query, convert, [(g, tt.green_order(g)) for g in tt.targets],
                 key_exprs, _types(info, tt.key), lambda fields: tuple(fields[i] for i in at))


def _reverse(tt: TableTransform, blue: _Side, green: _Side) -> _Plan:
    """g's input is all of a key's green rows: the green tables, fully joined on
    the key, come out as one stream of entities."""
    tables = list(tt.targets)
    infos = [green.info(g) for g in tables]
    first = infos[0]
    first_order = tt.green_order(tables[0])
    blue_info = blue.info(tt.source)
    # A SQL g reads each table under its bare name; Python's rows are read by position.
    aliases = ([sql_alias(t) for t in tables] if tt.inverse_sql is not None
               else [f"t{a}" for a in range(len(tables))])

    def key_of(alias: int, i: int) -> str:
        column = f"{aliases[alias]}.{quote_ident(tt.green_order(tables[alias])[i])}"
        # Green tables may type the same key differently (int here, bigint there).
        return column if alias == 0 else f"{column}::{first.type_of(first_order[i])}"

    def joined_key(upto: int, i: int) -> str:
        parts = [key_of(a, i) for a in range(upto)]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    source = f"{quote_table(tables[0])} {aliases[0]}"
    for a in range(1, len(tables)):
        on = " AND ".join(f"{joined_key(a, i)} = {key_of(a, i)}" for i in range(len(tt.key)))
        source += f" FULL JOIN {quote_table(tables[a])} {aliases[a]} ON {on}"
    key_exprs = [joined_key(len(infos), i) for i in range(len(tt.key))]
    if tt.inverse_sql is not None:  # green's server computes blue's rows: no Python per row
        columns, exprs = tt.inverse_select(blue_info.columns, blue_info.builtin_types())
        types = blue_info.builtin_types()
        keys = [as_blue(e, types.get(c)) for e, c in zip(key_exprs, tt.key, strict=True)]
        return _Plan(f"SELECT {', '.join(keys + list(exprs))} FROM {source}",
                     split_chunk([(tt.source, tt.key + columns)]), [(tt.source, tt.key)],
                     key_exprs, _types(first, first_order),
                     lambda fields: tuple(fields[:len(tt.key)]))
    selects = [f"{aliases[a]}.{quote_ident(c)}" for a, info in enumerate(infos)
               for c in info.columns]
    query = f"SELECT {', '.join(selects)} FROM {source}"
    # A line's key: each part from the first table that has a row (as coalesce does).
    starts = [sum(len(i.columns) for i in infos[:a]) for a in range(len(infos))]
    at = [[starts[a] + info.columns.index(tt.green_order(tables[a])[i])
           for a, info in enumerate(infos)] for i in range(len(tt.key))]

    def line_key(fields: list) -> tuple:
        return tuple(next(fields[j] for j in part if fields[j] is not None) for part in at)
    return _Plan(query, _inverse_chunk(tt, tables, infos), [(tt.source, tt.key)],
                 key_exprs, _types(first, first_order), line_key)


def _types(info: TableInfo, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(info.type_of(c).split("(")[0] for c in columns)


def _inverse_chunk(tt: TableTransform, tables: list[str], infos: list[TableInfo]) -> Convert:
    spans, start = [], 0
    for table, info in zip(tables, infos, strict=True):
        order = tt.green_order(table)
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




class _Side:
    """One database being verified, in one REPEATABLE READ transaction (one
    snapshot) from `hold` to `close`: its table descriptions and how its types
    compare."""

    def __init__(self, dsn: str, name: str) -> None:
        self.name = name
        self.conn = connect(dsn, f"verify-{name}")
        with self.conn.cursor() as cur:
            cur.execute(SESSION)  # before any temp table: temp_buffers is fixed then
        self.conn.commit()
        self.conn.set_session(isolation_level="REPEATABLE READ")
        self.infos: dict[str, TableInfo] = {}
        self.has_equality: dict[str, bool] = {}
        self.temps = 0

    def hold(self, snapshot: str | None = None) -> None:
        """Take this side's snapshot now, or import an exported one."""
        with self.conn.cursor() as cur:
            if snapshot is None:
                cur.execute("SELECT 1")  # the transaction's snapshot is taken here
            else:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))

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

    def look_up(self, table: str, order: tuple[str, ...], key: tuple
                ) -> tuple[dict | None, int | None]:
        """The row of `table` whose key columns `order` hold `key`, decoded as replay
        decodes rows, and its xmin; (None, None) when there is none."""
        info = self.info(table)
        if None in key:
            return None, None
        cols = ", ".join(map(quote_ident, info.columns))
        buf = io.StringIO()
        with self.conn.cursor() as cur:
            wanted = typed_values(cur, info, order, [key])
            cur.copy_expert(f"COPY (SELECT xmin, {cols} FROM {quote_table(table)} WHERE"
                            f" ({', '.join(map(quote_ident, order))}) IN ({wanted})) TO STDOUT",
                            buf)
        lines = buf.getvalue().splitlines()
        if not lines:
            return None, None
        xmin, *fields = parse_copy_line(lines[0])
        return info.row(fields), int(xmin or 0)

    def computed(self, table: str, order: tuple[str, ...], key: tuple, exprs: tuple[str, ...],
                 columns: tuple[str, ...], typed_as: TableInfo) -> dict | None:
        """A SQL f's row for the row of `table` keyed `key`, decoded as `typed_as`'s
        columns are; None when there is no such row."""
        info = self.info(table)
        buf = io.StringIO()
        with self.conn.cursor() as cur:
            wanted = typed_values(cur, info, order, [key])
            alias = sql_alias(table)
            cur.copy_expert(f"COPY (SELECT {', '.join(exprs)} FROM {sql_from(table)} WHERE"
                            f" ({', '.join(f'{alias}.{quote_ident(c)}' for c in order)})"
                            f" IN ({wanted})) TO STDOUT", buf)
        lines = buf.getvalue().splitlines()
        if not lines:
            return None
        decoders = [decoder(typed_as.type_oids[typed_as.columns.index(c)]) for c in columns]
        return {c: None if v is None else dec(v) for c, dec, v in
                zip(columns, decoders, parse_copy_line(lines[0]), strict=True)}

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
        self.conn.close()  # the transaction rolls back: temp tables and all


class _Joined:
    """One checked table: the expected rows kept in a temp table, then a full join
    with the real one, a key range at a time (`reached`) or all at once."""

    def __init__(self, side: _Side, table: str, order: tuple[str, ...]) -> None:
        self.side, self.table, self.order = side, table, order
        self.info = side.info(table)
        self.key_types = _types(self.info, order)
        self.temp = side.temp_like(table)
        self.key = [quote_ident(c) for c in order]
        self.sets: dict[tuple[str, ...], int] = {}
        self.current: int | None = None
        self.expected = self.extra = self.unlisted = 0
        self.listed: list[Mismatch] = []
        self.after: tuple | None = None  # the key the last compared range ended at
        self.pending = 0  # expected rows in the temp table, not compared yet

    def expect(self, cols: tuple[str, ...], text: str) -> None:
        index = self.sets.setdefault(cols, len(self.sets))
        if self.current != index:
            # Rows COPY'd with this column set say so through the default: no extra
            # field per line, and the lines go in as the snapshot writes them.
            with self.side.conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {self.temp} ALTER {SET_COLUMN} SET DEFAULT {index}")
            self.current = index
        self.side.copy_in(self.temp, cols, text)
        lines = text.count("\n")
        self.expected += lines
        self.pending += lines

    def reached(self, key: tuple) -> None:
        """Every expected row up to `key` is in: compare that range, once it is big
        enough to be worth a join."""
        if self.pending >= RANGE_ROWS:
            self.compare(key)

    def compare(self, upto: tuple | None = None) -> None:
        """Compare the keys after the last range, up to `upto` (None: all the rest),
        then empty the temp table for the next range."""
        on = " AND ".join(f"e.{k} = a.{k}" for k in self.key)
        query = (
            f"SELECT {', '.join(f'coalesce(e.{k}, a.{k})' for k in self.key)},"
            f" e.{SET_COLUMN} IS NULL AS only_here, a.{self.key[0]} IS NULL AS missing"
            f" FROM {self.temp} e FULL JOIN {self._actual(upto)} a ON {on}"
            f" WHERE e.{SET_COLUMN} IS NULL OR a.{self.key[0]} IS NULL OR {self._differs()}")
        decoders = [decoder(self.info.type_oids[self.info.columns.index(c)])
                    for c in self.order]
        room = MAX_LISTED - len(self.listed)
        buf = io.StringIO()
        with self.side.conn.cursor() as cur:
            # COPY's text, as every row is read elsewhere (a boolean is t, not true);
            # the first MAX_LISTED listed, the rest only counted.
            if room:
                cur.copy_expert(f"COPY ({query} LIMIT {room}) TO STDOUT", buf)
            found = buf.getvalue().splitlines()
            extra_found = 0
            for line in found:
                *values, only_here, missing = parse_copy_line(line)
                extra_found += only_here == "t"
                kind = "extra" if only_here == "t" else "missing" if missing == "t" else "differs"
                self.listed.append(Mismatch(self.table, tuple(
                    None if v is None else d(v) for d, v in zip(decoders, values, strict=True)),
                    kind))
            if len(found) == room:  # more may differ than were listed: count them
                cur.execute(f"SELECT count(*), count(*) FILTER (WHERE only_here) FROM ({query}) m")
                total, extra = cur.fetchone()
                self.unlisted += total - len(found)
                extra_found = extra
            self.extra += extra_found
            # The side's transaction lasts the whole verify: free its temp buffers now.
            cur.execute(f"TRUNCATE {self.temp}")
        self.after, self.pending = upto, 0

    def _actual(self, upto: tuple | None) -> str:
        """The checked table, its keys restricted to the range being compared."""
        keys = f"({', '.join(self.key)})"
        bounds = []
        with self.side.conn.cursor() as cur:
            for op, at in ((">", self.after), ("<=", upto)):
                if at is not None:
                    typed = ", ".join(cur.mogrify(f"%s::{self.info.type_of(c)}", (v,)).decode()
                                      for c, v in zip(self.order, at, strict=True))
                    bounds.append(f"{keys} {op} ({typed})")
        if not bounds:
            return quote_table(self.table)
        return f"(SELECT * FROM {quote_table(self.table)} WHERE {' AND '.join(bounds)})"

    def close(self) -> None:
        with self.side.conn.cursor() as cur:
            cur.execute(f"DROP TABLE {self.temp}")

    def _differs(self) -> str:
        """SQL, true when an expected row differs from the actual one in the columns
        its set (the transform's output for that row) has."""
        cases = []
        for cols, index in self.sets.items():
            tests = [self.side.distinct(self.info, c) for c in cols
                     if c not in self.info.primary_key]
            cases.append(f"WHEN {index} THEN {' OR '.join(tests) or 'false'}")
        return f"(CASE e.{SET_COLUMN} {' '.join(cases)} ELSE false END)" if cases else "false"
