"""The initial copy: a slot with an exported snapshot, and every table through f.

The slot and the copy meet exactly: the snapshot shows the source as of the slot's
consistent point, and the stream then starts at that point. The whole copy and the
position are one target transaction, so a crash mid-copy leaves green as it was
before, and a rerun starts over cleanly (dropping the half-made slot first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from orchestrator.db.apply import TargetDB
from orchestrator.db.catalog import quote_ident, quote_table
from orchestrator.db.connect import connect
from orchestrator.db.pipeline import Pipeline, copy_through, forward_source, sql_from
from orchestrator.db.source import SourceDB
from orchestrator.db.transform import TableTransform, Transform
from orchestrator.errors import ReplayRefused

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
    repl, lsn, snapshot_name = _new_slot(source, "export")
    try:
        rows = _copy_all(source, target, transform, snapshot_name, lsn, progress)
    except BaseException:
        repl.close()
        source.drop()  # a slot nobody will stream from would pin the source's WAL
        raise
    repl.close()  # releases the exported snapshot
    return SnapshotResult(lsn, rows, time.monotonic() - started)


def anchor(source: SourceDB, target: TargetDB) -> str | None:
    """Start a stream without copying: for reverse replay, which begins at cutover,
    when blue already equals g(green). Creates the slot and stores its consistent
    point as the position. None if the stream already has a position."""
    if target.position() is not None:
        return None
    with target.conn.cursor() as cur:
        cur.execute("SELECT string_agg(slot_name, ', ') FROM pg_replication_slots"
                    " WHERE database = current_database() AND slot_type = 'logical'")
        forward = cur.fetchone()[0]
    target.conn.commit()
    if forward:
        # The forward stream would decode reverse's writes and send them back again.
        raise ReplayRefused(
            f"the reverse target still has logical slot(s) {forward}; reverse replay must "
            "start after forward replay is drained and dropped",
            "run 'greenswap replay drop' for the forward stream first",
        )
    repl, lsn, _ = _new_slot(source, "nothing")
    repl.close()
    target.apply([], lsn)
    return lsn


def _new_slot(source: SourceDB, snapshot: str):
    """A fresh slot (and publication). A slot without a stored position is left
    from a crashed earlier attempt, so it is dropped first. Returns the replication
    connection (which holds an exported snapshot open), the slot's consistent point,
    and the snapshot's name."""
    source.drop()
    source.ensure_publication()
    repl = source.replication_connection()
    try:
        with repl.cursor() as rcur:
            rcur.execute(f'CREATE_REPLICATION_SLOT "{source.stream}" LOGICAL pgoutput'
                         f" (SNAPSHOT '{snapshot}')")
            _slot, lsn, snapshot_name, _plugin = rcur.fetchone()
    except BaseException:
        repl.close()
        raise
    return repl, lsn, snapshot_name


def _copy_all(source, target, transform, snapshot_name, lsn, progress) -> dict[str, int]:
    reader = connect(source.dsn, f"snapshot/{source.stream}")
    counts: dict[str, int] = dict.fromkeys(transform.target_tables(), 0)
    try:
        reader.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with reader.cursor() as rcur:
            rcur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
            with target.conn.cursor() as wcur:
                target.truncate(wcur, transform.target_tables())
                for table, tt in transform.tables.items():
                    copy = _copy_sql if tt.sql is not None else _copy_python
                    for green_table, n in copy(source, target, tt, rcur, wcur,
                                               partial(progress, table)).items():
                        counts[green_table] += n
                target._set_position(wcur, lsn, None)
                rcur.execute("SELECT pg_current_snapshot()::text")
                target._set_copy(wcur, rcur.fetchone()[0])
        target.conn.commit()
    except BaseException:
        target.conn.rollback()
        raise
    finally:
        reader.close()
    return counts


def _copy_python(source: SourceDB, target: TargetDB, tt: TableTransform, rcur, wcur,
                 progress: Callable[[int], None]) -> dict[str, int]:
    """Blue's rows through a Python f: COPY out, f per row, COPY in, overlapped."""
    query, convert = forward_source(source.infos[tt.source], tt, target.infos)
    return Pipeline(rcur, query, convert,
                    lambda g, cols, text: target.copy_text(wcur, g, cols, text),
                    f"snapshot of {tt.source}", progress).run()


def _copy_sql(source: SourceDB, target: TargetDB, tt: TableTransform, rcur, wcur,
              progress: Callable[[int], None]) -> dict[str, int]:
    """A SQL f: per green table, blue's server computes the rows in its COPY and
    green's reads them in, through a pipe. A table with several green tables is
    read once for each (by the same snapshot); progress counts blue's rows."""
    counts: dict[str, int] = {}
    passes, done = len(tt.targets), 0

    def seen(n: int) -> None:  # this pass's rows, after those of the passes before
        progress((done + n) // passes)

    for green_table in tt.targets:
        types = target.infos[green_table].builtin_types()
        columns, exprs = tt.sql_select(green_table, types)
        counts[green_table] = copy_through(
            rcur, f"SELECT {', '.join(exprs)} FROM {sql_from(tt.source)}", wcur,
            f"{quote_table(green_table)} ({', '.join(map(quote_ident, columns))})",
            f"snapshot of {tt.source}", source.dsn, seen,
            # Every column cast to its green type (sql_select): binary where all are
            # built in, so that blue sends each in the form green's type reads.
            # Not reg* types, whose binary form is an OID of blue's, not a name.
            binary=set(columns) <= set(types)
            and not any(types[c].startswith("reg") for c in columns))
        done += counts[green_table]
    progress(done // passes)
    return counts
