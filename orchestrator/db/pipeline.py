"""COPY rows out of one database, through Python, and COPY them into another, as
three overlapping stages. The snapshot copies a Python f(blue) into green this
way; verify copies f(blue) (or g(green)) into a temp table beside the rows it
checks.

Where f is SQL, the rows need no Python at all: `copy_through` joins the two COPYs
with an OS pipe, and only bytes in blocks cross it.

A reader thread streams the source query out in chunks of lines, the calling
thread converts each chunk (decode, transform, encode), and a writer thread COPYs
the result in. Both servers and this Python then work at the same time instead of
taking turns. Queues are bounded, so memory stays flat on any table size; the first
failure anywhere stops every stage and is raised by `run`.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import time
from collections.abc import Callable

import psycopg2

from orchestrator.db.catalog import TableInfo, quote_ident, quote_table, sql_alias
from orchestrator.db.connect import connect
from orchestrator.db.mapping import forward_rows
from orchestrator.db.transform import TableTransform
from orchestrator.db.values import copy_line, parse_copy_line
from orchestrator.errors import PipelineAborted, ReplayError

CHUNK_LINES = 5_000
QUEUE_DEPTH = 4
JOIN_TIMEOUT_S = 60
# One chunk of source lines -> {(target table, its columns): COPY lines}
Convert = Callable[[list[str]], dict[tuple[str, tuple[str, ...]], list[str]]]
Write = Callable[[str, tuple[str, ...], str], None]  # (target table, columns, COPY text)


def forward_source(info: TableInfo, tt: TableTransform, greens: dict[str, TableInfo]
                   ) -> tuple[str, Convert]:
    """The query that reads blue's rows for f, and what turns its COPY lines into
    green's tables (`greens`). Python f runs per row; a SQL f runs in the query
    itself, and its lines go on as they are (split per green table): no Python per
    row."""
    if tt.sql is None:
        cols = ", ".join(map(quote_ident, info.columns))
        return f"SELECT {cols} FROM {quote_table(info.name)}", forward_chunk(info, tt)
    selects = {g: tt.sql_select(g, greens[g].builtin_types()) for g in tt.targets}
    exprs = ", ".join(e for _cols, es in selects.values() for e in es)
    return (f"SELECT {exprs} FROM {sql_from(tt.source)}",
            split_chunk([(g, cols) for g, (cols, _) in selects.items()]))


def sql_from(table: str) -> str:
    """The FROM of a SQL f: the table under its bare name, so that an expression may
    write `price` or `items.price`, wherever the rows are read from."""
    return f"{quote_table(table)} AS {sql_alias(table)}"


def split_chunk(outputs: list[tuple[str, tuple[str, ...]]]) -> Convert:
    """COPY lines whose fields are each output's columns in turn, split per output.
    COPY escapes tabs inside values, so a field boundary is every tab."""
    if len(outputs) == 1:
        return lambda chunk: {outputs[0]: chunk}
    spans, start = [], 0
    for _, cols in outputs:
        spans.append((start, start + len(cols)))
        start += len(cols)

    def convert(chunk: list[str]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {o: [] for o in outputs}
        for line in chunk:
            fields = line[:-1].split("\t")
            for out, (a, b) in zip(outputs, spans, strict=True):
                groups[out].append("\t".join(fields[a:b]) + "\n")
        return groups
    return convert


PIPE_BLOCK = 1 << 16
PROGRESS_EVERY_S = 1.0


def copy_through(rcur, query: str, wcur, into: str, what: str, source_dsn: str,
                 progress: Callable[[int], None] = lambda _n: None, binary: bool = False
                 ) -> int:
    """COPY the rows of `query` (on the source) into `into` (the target's COPY
    target: a table and its columns) through an OS pipe. The source's server writes
    COPY's format, the target's reads it, and Python only moves blocks between them.
    Returns the rows written.

    `binary`: in COPY's binary format, which spares both servers printing and
    parsing every value; only where each column of `query` has exactly the type of
    its target column (binary input converts nothing).

    The source's side runs on a thread. Should it fail, the target sees the end of
    its input early and may finish: its rows are then partial, so its error is
    raised, and the caller (which writes in one transaction) rolls back."""
    fmt = " (FORMAT binary)" if binary else ""
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def read() -> None:
        try:
            with open(write_end, "wb", buffering=PIPE_BLOCK) as sink:
                rcur.copy_expert(f"COPY ({query}) TO STDOUT{fmt}", sink)
        except BaseException as exc:
            failed.append(exc)

    reader = threading.Thread(target=read, name=f"copy/{what}", daemon=True)
    watch = _CopyProgress(source_dsn, rcur.connection.get_backend_pid(), progress)
    reader.start()
    watch.start()
    try:
        # Closed when this returns or fails: a reader still writing then stops.
        with open(read_end, "rb", buffering=0) as source:
            wcur.copy_expert(f"COPY {into} FROM STDIN{fmt}", source, size=PIPE_BLOCK)
    except BaseException as exc:
        reader.join(timeout=JOIN_TIMEOUT_S)
        # The source failing first (before its first row, even) leaves the target a
        # short input it may refuse: the source's error is the cause then.
        cause = next((e for e in failed if not isinstance(e, BrokenPipeError)), None)
        if cause is not None:
            raise cause from exc
        raise
    finally:
        watch.stop()
        reader.join(timeout=JOIN_TIMEOUT_S)
    if reader.is_alive():
        raise ReplayError(f"{what}: the source's COPY did not finish within "
                          f"{JOIN_TIMEOUT_S}s", "check the source for locks, then run again")
    if failed:
        raise failed[0]
    return wcur.rowcount


class _CopyProgress:
    """Rows a COPY has sent so far, asked of the source's own progress view
    (pg_stat_progress_copy, PostgreSQL 14 and later) every second, on a connection
    of its own: the copy's connections are busy, and no Python sees its rows."""

    def __init__(self, dsn: str, pid: int, progress: Callable[[int], None]) -> None:
        self.dsn, self.pid, self.progress = dsn, pid, progress
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=JOIN_TIMEOUT_S)

    def _watch(self) -> None:
        try:
            conn = connect(self.dsn, "copy-progress")
        except ReplayError:
            return  # progress is a courtesy; the copy goes on without it
        conn.autocommit = True
        try:
            while not self.stopped.wait(PROGRESS_EVERY_S):
                with conn.cursor() as cur:
                    cur.execute("SELECT tuples_processed FROM pg_stat_progress_copy"
                                " WHERE pid = %s", (self.pid,))
                    row = cur.fetchone()
                if row:
                    self.progress(row[0])
        except psycopg2.Error:
            pass  # an older server without the view, or the source going away
        finally:
            conn.close()


def forward_chunk(info: TableInfo, tt: TableTransform) -> Convert:
    """f of each source row, grouped by green table and column set."""
    def convert(chunk: list[str]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for line in chunk:
            row = info.row(parse_copy_line(line))
            for green_table, new in forward_rows(tt, row).items():
                if new is not None:
                    groups.setdefault((green_table, tuple(new)), []).append(
                        copy_line(list(new.values())))
        return groups
    return convert


class Pipeline:
    def __init__(self, rcur, query: str, convert: Convert, write: Write, what: str,
                 progress: Callable[[int], None] = lambda _n: None,
                 depth: int = QUEUE_DEPTH) -> None:
        self.rcur, self.query, self.convert, self.write = rcur, query, convert, write
        self.what, self.progress = what, progress
        self.lines: queue.Queue = queue.Queue(depth)
        self.out: queue.Queue = queue.Queue(depth)
        self.failed = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> dict[str, int]:
        """Rows written per target table."""
        threads = [threading.Thread(target=self._guard, args=(f,), daemon=True)
                   for f in (self._read, self._write)]
        for t in threads:
            t.start()
        try:
            counts = self._transform()
        except PipelineAborted:
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
                f"{self.what}: a copy stage did not finish within {JOIN_TIMEOUT_S}s",
                "check both servers for locks, then run again",
            )
        if self.errors:
            raise self.errors[0]
        return counts

    def _guard(self, stage) -> None:
        try:
            stage()
        except PipelineAborted:
            pass
        except BaseException as exc:
            self.errors.append(exc)
            self.failed.set()

    def _read(self) -> None:
        sink = _ChunkSink(lambda chunk: self._put(self.lines, chunk))
        try:
            self.rcur.copy_expert(f"COPY ({self.query}) TO STDOUT", sink)
            sink.flush()
        finally:
            self._put(self.lines, None, final=True)

    def _transform(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        seen = 0
        while (chunk := self._get(self.lines)) is not None:
            for (table, cols), lines in self.convert(chunk).items():
                self._put(self.out, (table, cols, "".join(lines)))
                counts[table] = counts.get(table, 0) + len(lines)
            seen += len(chunk)
            self.progress(seen)
        return counts

    def _write(self) -> None:
        while (item := self._get(self.out)) is not None:
            self.write(*item)

    def _put(self, q: queue.Queue, item, final: bool = False) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while True:
            if final and time.monotonic() > deadline:
                return  # the reader of this queue is stuck; run() reports it
            if self.failed.is_set() and (not final or q.full()):
                if final:
                    return  # nobody will read it: the stages are stopping
                raise PipelineAborted
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue):
        while True:
            if self.failed.is_set():
                raise PipelineAborted
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
