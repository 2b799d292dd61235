"""The initial copy: a slot with an exported snapshot, and every table through f.

The slot and the copy meet exactly: the snapshot shows the source as of the slot's
consistent point, and the stream then starts at that point. The whole copy and the
position are one target transaction, so a crash mid-copy leaves green as it was
before, and a rerun starts over cleanly (dropping the half-made slot first).
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.db.apply import TargetDB
from orchestrator.db.catalog import TableInfo, quote_ident, quote_table
from orchestrator.db.connect import connect
from orchestrator.db.mapping import forward_rows
from orchestrator.db.source import SourceDB
from orchestrator.db.transform import TableTransform, Transform
from orchestrator.db.values import copy_line, parse_copy_line
from orchestrator.errors import ReplayError, ReplayRefused

CHUNK_LINES = 5_000
QUEUE_DEPTH = 4
JOIN_TIMEOUT_S = 60
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
                    pipe = _Pipeline(rcur, target, wcur, source.infos[table], tt, progress)
                    for green_table, n in pipe.run().items():
                        counts[green_table] += n
                target._set_position(wcur, lsn, None)
        target.conn.commit()
    except BaseException:
        target.conn.rollback()
        raise
    finally:
        reader.close()
    return counts


class _Aborted(Exception):
    """Another stage of the pipeline failed; its error is the one reported."""


class _Pipeline:
    """COPY out of blue, f, COPY into green, as three overlapping stages.

    A reader thread streams blue's table out in chunks of lines, the calling thread
    decodes them and applies f, and a writer thread COPYs each chunk's green rows in.
    blue's server, this Python and green's server then work at the same time instead
    of taking turns. Queues are bounded, so memory stays flat on any table size; the
    first failure anywhere stops every stage and is raised here.
    """

    def __init__(self, rcur, target: TargetDB, wcur, info: TableInfo, tt: TableTransform,
                 progress: Progress) -> None:
        self.rcur, self.target, self.wcur = rcur, target, wcur
        self.info, self.tt, self.progress = info, tt, progress
        self.lines: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.out: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.failed = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> dict[str, int]:
        threads = [threading.Thread(target=self._guard, args=(f,), daemon=True)
                   for f in (self._read, self._write)]
        for t in threads:
            t.start()
        try:
            counts = self._transform()
        except _Aborted:
            counts = {}
        except BaseException as exc:
            self.errors.append(exc)
            self.failed.set()
        finally:
            self._put(self.out, None, final=True)
            for t in threads:
                t.join(timeout=JOIN_TIMEOUT_S)
        if any(t.is_alive() for t in threads):
            # A stage is stuck in the database: the target connection may still be in
            # use, so nothing more may be sent on it; the caller rolls back and closes.
            self.failed.set()
            raise ReplayError(
                f"snapshot of {self.info.name}: a copy stage did not finish within "
                f"{JOIN_TIMEOUT_S}s", "check both servers for locks, then run again",
            )
        if self.errors:
            raise self.errors[0]
        return counts

    def _guard(self, stage) -> None:
        try:
            stage()
        except _Aborted:
            pass
        except BaseException as exc:
            self.errors.append(exc)
            self.failed.set()

    def _read(self) -> None:
        cols = ", ".join(map(quote_ident, self.info.columns))
        sink = _ChunkSink(lambda chunk: self._put(self.lines, chunk))
        try:
            self.rcur.copy_expert(
                f"COPY (SELECT {cols} FROM {quote_table(self.info.name)}) TO STDOUT", sink)
            sink.flush()
        finally:
            self._put(self.lines, None, final=True)

    def _transform(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(self.tt.targets, 0)
        seen = 0
        while (chunk := self._get(self.lines)) is not None:
            groups: dict[tuple, list[str]] = {}
            for line in chunk:
                row = self.info.row(parse_copy_line(line))
                for green_table, new in forward_rows(self.tt, row).items():
                    if new is not None:
                        groups.setdefault((green_table, tuple(new)), []).append(
                            copy_line(list(new.values())))
            for (green_table, new_cols), lines in groups.items():
                self._put(self.out, (green_table, new_cols, "".join(lines)))
                counts[green_table] += len(lines)
            seen += len(chunk)
            self.progress(self.info.name, seen)
        return counts

    def _write(self) -> None:
        while (item := self._get(self.out)) is not None:
            green_table, cols, text = item
            self.target.copy_text(self.wcur, green_table, cols, text)

    def _put(self, q: queue.Queue, item, final: bool = False) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while True:
            if final and time.monotonic() > deadline:
                return  # the reader of this queue is stuck; run() reports it
            if self.failed.is_set() and (not final or q.full()):
                if final:
                    return  # nobody will read it: the stages are stopping
                raise _Aborted
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue):
        while True:
            if self.failed.is_set():
                raise _Aborted
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue


class _ChunkSink(io.TextIOBase):
    """The file COPY TO writes into: one call per row, handed on in chunks. A text
    file, so that psycopg2 decodes in C and hands over str."""

    def __init__(self, hand_over) -> None:
        super().__init__()
        self.hand_over = hand_over
        self.buf: list[str] = []

    def write(self, data: str) -> int:
        self.buf.append(data)
        if len(self.buf) >= CHUNK_LINES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buf:
            self.hand_over(self.buf)
            self.buf = []
