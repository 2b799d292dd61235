"""The initial copy: a slot with an exported snapshot, and every table through f.

The slot and the copy meet exactly: the snapshot shows the source as of the slot's
consistent point, and the stream then starts at that point. The whole copy and the
position are one target transaction, so a crash mid-copy leaves green empty, and a
rerun starts over cleanly (dropping the half-made slot first).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestrator.db.apply import TargetDB
from orchestrator.db.catalog import TableInfo, quote_ident, quote_table
from orchestrator.db.connect import connect
from orchestrator.db.mapping import snapshot_writes
from orchestrator.db.source import SourceDB
from orchestrator.db.transform import Row, Transform
from orchestrator.db.values import parse_copy_line

FLUSH_ROWS = 20_000
Progress = Callable[[str, int], None]  # (table, rows copied so far)


@dataclass(frozen=True)
class SnapshotResult:
    lsn: str
    rows: dict[str, int]
    seconds: float


def take_snapshot(
    source: SourceDB, target: TargetDB, transform: Transform,
    progress: Progress = lambda _t, _n: None,
) -> SnapshotResult | None:
    """Copy f(source) into target at a fresh slot's snapshot. None if already done."""
    if target.position() is not None:
        return None
    started = time.monotonic()
    source.drop()  # a slot without a stored position is a crashed earlier attempt
    source.ensure_publication()
    repl = source.replication_connection()
    try:
        with repl.cursor() as rcur:
            rcur.execute(
                f'CREATE_REPLICATION_SLOT "{source.stream}" LOGICAL pgoutput'
                " (SNAPSHOT 'export')"
            )
            _slot, lsn, snapshot_name, _plugin = rcur.fetchone()
        rows = _copy_all(source, target, transform, snapshot_name, lsn, progress)
    finally:
        repl.close()  # releases the exported snapshot
    return SnapshotResult(lsn, rows, time.monotonic() - started)


def anchor(source: SourceDB, target: TargetDB) -> str | None:
    """Start a stream without copying: for reverse replay, which begins at cutover,
    when blue already equals g(green). Creates the slot and stores its consistent
    point as the position. None if the stream already has a position."""
    if target.position() is not None:
        return None
    source.drop()
    source.ensure_publication()
    repl = source.replication_connection()
    try:
        with repl.cursor() as rcur:
            rcur.execute(
                f'CREATE_REPLICATION_SLOT "{source.stream}" LOGICAL pgoutput (SNAPSHOT \'nothing\')'
            )
            _slot, lsn, _snap, _plugin = rcur.fetchone()
    finally:
        repl.close()
    target.apply([], lsn)
    return lsn


def _copy_all(source, target, transform, snapshot_name, lsn, progress) -> dict[str, int]:
    reader = connect(source.dsn, f"snapshot/{source.stream}")
    counts: dict[str, int] = {}
    try:
        with reader.cursor() as rcur:
            rcur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            rcur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
            with target.conn.cursor() as wcur:
                target.truncate(wcur, transform.target_tables())
                for table, tt in transform.tables.items():
                    rows = _rows(rcur, source.infos[table])
                    counts.update(_copy_table(target, wcur, table, snapshot_writes(tt, rows),
                                              progress))
                target._set_position(wcur, lsn, None)
        target.conn.commit()
    except BaseException:
        target.conn.rollback()
        raise
    finally:
        reader.close()
    return counts


def _copy_table(target, wcur, table, produced, progress) -> dict[str, int]:
    pending: dict[str, list[Row]] = {}
    counts: dict[str, int] = {}
    seen = 0
    for green_table, row in produced:
        pending.setdefault(green_table, []).append(row)
        seen += 1
        if seen % FLUSH_ROWS == 0:
            _flush(target, wcur, pending, counts)
            progress(table, seen)
    _flush(target, wcur, pending, counts)
    progress(table, seen)
    return counts


def _flush(target, wcur, pending, counts) -> None:
    for green_table, rows in pending.items():
        counts[green_table] = counts.get(green_table, 0) + target.copy_rows(wcur, green_table, rows)
    pending.clear()


def _rows(cur, info: TableInfo) -> Iterator[Row]:
    """Stream the table out with COPY, decoded as the change stream decodes values."""
    cols = info.columns
    decoders = info.decoders()
    buf = io.StringIO()
    collist = ", ".join(map(quote_ident, cols))
    cur.copy_expert(f"COPY (SELECT {collist} FROM {quote_table(info.name)}) TO STDOUT", buf)
    buf.seek(0)
    for line in buf:
        fields = parse_copy_line(line)
        yield {c: (None if v is None else d(v)) for c, v, d in zip(cols, fields, decoders,
                                                                    strict=True)}
