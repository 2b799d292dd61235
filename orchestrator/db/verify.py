"""Verify: does the target hold exactly the transform of the source?

Lists the keys present on either side (in memory: a key per row), then walks
them in order, a chunk at a time. For each chunk it computes what green should
hold (f of blue's rows) and reads what green does hold for the same keys, and
compares a checksum of each side; only a chunk whose checksums differ is compared
key by key. Every mismatching key is listed. The
result records the last key checked per table, so a verify can resume there, and
run continuously by starting over.

Reverse (blue == g(green)) walks the same key ranges and compares the other way.
The two sides are read one after the other, so an exact answer needs a quiet
source (writers fenced, replay caught up); on a live source, mismatches are
candidates to check again once replay has passed them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from orchestrator.db.source import read_rows
from orchestrator.db.catalog import TableInfo, quote_ident, quote_table, table_info
from orchestrator.db.connect import connect
from orchestrator.db.mapping import inverse_row
from orchestrator.db.transform import Row, TableTransform, Transform
from orchestrator.db.values import copy_field, parse_copy_line
from orchestrator.errors import ReplayRefused

CHUNK = 5000


@dataclass
class Mismatch:
    table: str  # the green table (forward) or blue table (reverse)
    key: tuple
    expected: Row | None
    actual: Row | None


@dataclass
class VerifyResult:
    direction: str
    chunks: int = 0
    keys: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    resume_after: dict[str, tuple] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify(blue_dsn: str, green_dsn: str, transform: Transform, direction: str = "forward",
           start_after: dict[str, tuple] | None = None, chunk: int = CHUNK) -> VerifyResult:
    blue, green = _Side(blue_dsn, "blue"), _Side(green_dsn, "green")
    result = VerifyResult(direction)
    try:
        for tt in transform.tables.values():
            after = (start_after or {}).get(tt.source)
            for chunk_keys in _chunks(blue, green, tt, after, chunk):
                expected, actual = _sides(blue, green, tt, chunk_keys, direction)
                result.chunks += 1
                result.keys += len(chunk_keys)
                if _digest(expected) != _digest(actual):
                    result.mismatches += _diff(expected, actual)
                result.resume_after[tt.source] = chunk_keys[-1]
    finally:
        blue.conn.close()
        green.conn.close()
    return result


def recheck(blue_dsn: str, green_dsn: str, transform: Transform, mismatches: list[Mismatch],
            direction: str = "forward") -> list[Mismatch]:
    """Compare again only the entities that mismatched: on a live source most are
    changes still in flight, gone once the target has caught up."""
    by_source: dict[str, set[tuple]] = {}
    for m in mismatches:
        tt = (transform.owner_of(m.table) if direction == "forward"
              else transform.tables[m.table])
        by_source.setdefault(tt.source, set()).add(m.key)
    blue, green = _Side(blue_dsn, "blue"), _Side(green_dsn, "green")
    left: list[Mismatch] = []
    try:
        for source, keys in by_source.items():
            expected, actual = _sides(blue, green, transform.tables[source], sorted(keys),
                                      direction)
            left += _diff(expected, actual)
    finally:
        blue.conn.close()
        green.conn.close()
    return left


def _chunks(blue, green, tt: TableTransform, after: tuple | None, size: int
            ) -> Iterator[list[tuple]]:
    """Sorted runs of entity keys present on either side (a row only green has is a
    mismatch too), `size` at a time."""
    keys = sorted(set(_keys(blue, tt.source, tt.key, after)) | {
        k for g, mapping in tt.targets.items()
        for k in _keys(green, g, _blue_order(tt, g), after)
    })
    for start in range(0, len(keys), size):
        yield keys[start:start + size]


def _blue_order(tt: TableTransform, green_table: str) -> tuple[str, ...]:
    """Green's key columns in the order of blue's key columns."""
    by_blue = {blue: green for green, blue in tt.targets[green_table].items()}
    return tuple(by_blue[c] for c in tt.key)


def _keys(side: _Side, table: str, cols: tuple[str, ...], after: tuple | None) -> list[tuple]:
    info = side.info(table)
    decs = [info.decoders()[info.columns.index(c)] for c in cols]
    where = ""
    if after is not None:
        where = " WHERE (" + ", ".join(map(quote_ident, cols)) + ") > " + side.literal(after)
    rows = side.copy(f"SELECT {', '.join(map(quote_ident, cols))} FROM {quote_table(table)}"
                 f"{where}")
    return [tuple(d(v) for d, v in zip(decs, r, strict=True)) for r in rows]


def _sides(blue, green, tt: TableTransform, keys: list[tuple], direction: str):
    blue_rows = _rows(blue, tt.source, tt.key, keys)
    green_rows = {g: _rows(green, g, _blue_order(tt, g), keys) for g in tt.targets}
    if direction == "forward":
        expected = {}
        for key, row in blue_rows.items():
            for g, new in tt.apply(row).items():
                if new is not None:
                    expected[(g, key)] = new
        actual = {(g, k): r for g, rows in green_rows.items() for k, r in rows.items()}
        return expected, _only(actual, expected)
    expected = {}
    for key in keys:
        rows = {g: green_rows[g].get(key) for g in tt.targets}
        if any(r is not None for r in rows.values()):
            back = inverse_row(tt, rows, key)
            if back is not None:
                expected[(tt.source, key)] = back
    actual = {(tt.source, k): r for k, r in blue_rows.items()}
    return expected, _only(actual, expected)


def _only(actual: dict, expected: dict) -> dict:
    """Compare only the columns the transform produces: the rest are green's own."""
    out = {}
    for k, row in actual.items():
        cols = expected[k].keys() if k in expected else row.keys()
        out[k] = {c: row.get(c) for c in cols}
    return out


def _canon(row: Row) -> str:
    return "\t".join(f"{c}={_value(row[c])}" for c in sorted(row))


def _value(value) -> str:
    # 1.5 from f and 1.50 from a numeric(12,2) column are the same value.
    if isinstance(value, Decimal) and value.is_finite():
        return format(value.normalize(), "f")
    return copy_field(value)


def _digest(side: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(side, key=repr):
        h.update(repr(key).encode())
        h.update(_canon(side[key]).encode())
    return h.hexdigest()


def _diff(expected: dict, actual: dict) -> list[Mismatch]:
    out = []
    for k in sorted(set(expected) | set(actual), key=repr):
        e, a = expected.get(k), actual.get(k)
        if e is None or a is None or _canon(e) != _canon(a):
            out.append(Mismatch(k[0], k[1], e, a))
    return out


def _rows(side: _Side, table: str, cols: tuple[str, ...], keys: list[tuple]) -> dict[tuple, Row]:
    # By the keys themselves, not a range: Python's order of text keys need not be the
    # column collation's order, and a range would then silently skip rows.
    return read_rows(side.conn, side.info(table), cols, keys) if keys else {}


class _Side:
    """One database being verified, with its table descriptions cached."""

    def __init__(self, dsn: str, name: str) -> None:
        self.conn = connect(dsn, f"verify-{name}")
        self.infos: dict[str, TableInfo] = {}

    def info(self, table: str) -> TableInfo:
        if table not in self.infos:
            with self.conn.cursor() as cur:
                info = table_info(cur, table)
            if info is None:
                raise ReplayRefused(f"verify: table {table} does not exist")
            self.infos[table] = info
        return self.infos[table]

    def literal(self, key: tuple) -> str:
        with self.conn.cursor() as cur:
            return cur.mogrify("(" + ", ".join(["%s"] * len(key)) + ")", key).decode()

    def copy(self, query: str) -> list[list[str | None]]:
        buf = io.StringIO()
        with self.conn.cursor() as cur:
            cur.copy_expert(f"COPY ({query}) TO STDOUT", buf)
        return [parse_copy_line(line) for line in buf.getvalue().splitlines()]
