"""The database a replay reads from: its publication, its slot, its live rows.

Forward, the source is blue; in reverse, green. Everything here is read-only on
the source's data; the only things it creates are a publication and a logical
replication slot, both named after the stream, and it drops them when asked.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from orchestrator.db.catalog import (
    TableInfo,
    estimated_rows,
    key_hint,
    key_problem,
    quote_ident,
    quote_table,
    table_info,
    typed_values,
)
from orchestrator.db.connect import connect
from orchestrator.db.transform import Row
from orchestrator.db.values import parse_copy_line
from orchestrator.db.visibility import Snapshot
from orchestrator.errors import ReplayError, ReplayRefused

T = TypeVar("T")

DROP_DEADLINE_S = 10.0
KEY_CHUNK = 1000
# How long a transaction may sit in the log unseen by other sessions. Long enough for
# a slow synchronous standby; past it, replay stops rather than guess.
VISIBLE_DEADLINE_S = 60.0
# Bytes of WAL a slot (named by the parameter) keeps on the source; 0 without a slot.
RETAINED_WAL = ("coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
                " FROM pg_replication_slots WHERE slot_name = %s), 0)")


class SourceDB:
    def __init__(self, dsn: str, stream: str, keys: dict[str, tuple[str, ...]]) -> None:
        self.dsn = dsn
        self.stream = stream
        self.publication = f"{stream}_pub"
        self.conn = connect(dsn, f"read/{stream}")
        self.conn.autocommit = True
        self.keys = keys
        self.visible_deadline_s = VISIBLE_DEADLINE_S
        with self.conn.cursor() as cur:
            self.infos = {t: self._checked(cur, t) for t in keys}

    def _checked(self, cur, table: str) -> TableInfo:
        info = table_info(cur, table)
        if info is None:
            raise ReplayRefused(f"source table {table} does not exist")
        problem = key_problem(info, self.keys[table])
        if problem:
            raise ReplayRefused(f"source table {problem}", key_hint(table))
        return info

    def ensure_publication(self) -> None:
        tables = ", ".join(quote_table(t) for t in self.infos)
        with self.conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,))
            if cur.fetchone() is None:
                # Partitioned tables publish under their own name, as the transform knows them.
                cur.execute(f'CREATE PUBLICATION "{self.publication}" FOR TABLE {tables}'
                            " WITH (publish_via_partition_root = true)")

    def slot_exists(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.stream,))
            return cur.fetchone() is not None

    def drop(self) -> None:
        """Drop the slot (it pins WAL) and the publication. Idempotent."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                " WHERE slot_name = %s AND active_pid IS NOT NULL", (self.stream,))
            # A terminated walsender lets go of its slot a moment later.
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND active_pid IS NULL", (self.stream,))
            deadline = time.monotonic() + DROP_DEADLINE_S
            while self.slot_exists():
                if time.monotonic() > deadline:
                    raise ReplayError(
                        f"slot {self.stream} is still in use after {DROP_DEADLINE_S:g}s",
                        f"drop it by hand: SELECT pg_drop_replication_slot('{self.stream}')",
                    )
                time.sleep(0.05)
                cur.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = %s AND active_pid IS NULL", (self.stream,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{self.publication}"')

    def estimated_rows(self, table: str) -> int:
        with self.conn.cursor() as cur:
            return estimated_rows(cur, table)

    def retained_wal(self) -> int:
        """Bytes of WAL the slot keeps on the source's disk."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT {RETAINED_WAL}", (self.stream,))
            return cur.fetchone()[0]

    def read(self, table: str, keys: list[tuple]) -> dict:
        """Current rows of `table` for `keys`, in this connection's transaction (a
        `Seeing` snapshot) or, outside one, as of now."""
        return read_rows(self.conn, self.infos[table], self.keys[table], keys) if keys else {}

    def seeing(self, xids: Iterable[int], waiting: Callable[[], None],
               as_of: str | None = None) -> Seeing:
        return Seeing(self, xids, waiting, as_of)

    def snapshot(self) -> Snapshot:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_current_snapshot()::text")
            return Snapshot.parse(cur.fetchone()[0])

    def replication_connection(self):
        return connect(self.dsn, f"stream/{self.stream}", replication=True)

    def close(self) -> None:
        self.conn.close()


class Seeing:
    """A reader of the source's rows whose snapshot sees given transactions.

    Opened on the first read (a batch that reads nothing costs nothing): a REPEATABLE
    READ transaction whose snapshot sees every xid asked for, taken again until it
    does, up to VISIBLE_DEADLINE_S. `waiting` runs between tries (the stream answers
    its server's keepalives there, and may stop). Close it to end the transaction.

    `as_of` (an exported snapshot's name) reads the source as of one point in its
    log instead of now: a stream replaying up to that point must not read rows
    written after it (verify.py)."""

    def __init__(self, source: SourceDB, xids: Iterable[int], waiting: Callable[[], None],
                 as_of: str | None = None):
        self.source, self.xids, self.waiting, self.as_of = source, set(xids), waiting, as_of
        self.deadline_s = source.visible_deadline_s
        self.open = False
        self.opened = False  # a snapshot that saw every xid was taken

    def __call__(self, table: str, keys: list[tuple]) -> dict[tuple, Row]:
        if not self.open and keys:
            self._begin()
        return self.source.read(table, keys)

    def run(self, query: Callable[[Any], T]) -> T:
        """`query(connection)` in this snapshot (a SQL g reading green's rows)."""
        if not self.open:
            self._begin()
        return query(self.source.conn)

    def _begin(self) -> None:
        deadline = time.monotonic() + self.deadline_s
        pause = 0.001
        with self.source.conn.cursor() as cur:
            while True:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                self.open = True
                if self.as_of is not None:
                    cur.execute("SET TRANSACTION SNAPSHOT %s", (self.as_of,))
                cur.execute("SELECT pg_current_snapshot()::text")
                snapshot = Snapshot.parse(cur.fetchone()[0])
                hidden = sorted(x for x in self.xids if not snapshot.sees(x))
                if not hidden:
                    self.opened = True
                    return
                self.close()
                if self.as_of is not None:  # a snapshot of the past never changes
                    raise ReplayError(
                        f"transaction {hidden[0]} was replayed but the point's snapshot does"
                        " not see it; nothing of it was applied", "verify again")
                if time.monotonic() > deadline:
                    raise ReplayError(
                        f"transaction {hidden[0]} is in the source's change log but other "
                        f"sessions still cannot see it after {self.deadline_s:g}s (a "
                        "synchronous standby that does not confirm?); nothing of it was "
                        "applied and the position did not move",
                        "check the source's synchronous standbys (pg_stat_replication), "
                        "then run the replayer again: it resumes before that transaction",
                    )
                self.waiting()
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def close(self) -> None:
        if self.open:
            self.open = False
            with self.source.conn.cursor() as cur:
                cur.execute("COMMIT")


def read_rows(conn, info: TableInfo, keycols: tuple[str, ...], keys: list[tuple]) -> dict:
    """Current rows of `info.name` for `keys`, decoded as the stream decodes them, keyed
    by the keys as asked for (another table's text '5' finds this one's integer 5)."""
    found: dict[tuple, Row] = {}
    cols = ", ".join(f"t.{quote_ident(c)}" for c in info.columns)
    names = ", ".join(f"k{i}" for i in range(len(keycols)))
    match = " AND ".join(f"t.{quote_ident(c)} = k.k{i}" for i, c in enumerate(keycols))
    with conn.cursor() as cur:
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = keys[start:start + KEY_CHUNK]
            values = typed_values(cur, info, keycols, chunk, numbered=True)
            buf = io.StringIO()
            cur.copy_expert(
                f"COPY (SELECT k.n, {cols} FROM {quote_table(info.name)} t JOIN ({values})"
                f" AS k(n, {names}) ON {match}) TO STDOUT", buf)
            for line in buf.getvalue().splitlines():
                n, *fields = parse_copy_line(line)
                found[chunk[int(n or 0)]] = info.row(fields)  # n: never NULL
    return found
