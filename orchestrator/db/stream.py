"""Following the source's change log and applying it to the target, batch by batch.

Whole source transactions are applied in commit order. A batch gathers the
transactions that arrive while the one before it is written (up to a count),
collapses them to one final state per entity, and commits that to the target with
the position of its last commit. Only then is the position confirmed to the
source, so the slot never lets go of WAL that the target does not hold yet.

One batch is written on a worker thread while the next is decoded: the target's
server does its share of the work while Python does its own (psycopg2 lets go of the
GIL while it waits). At most one batch is in flight, and positions still move in
commit order, only once the target has committed them.

A batch closes as soon as the writer is free: at every commit, and when the socket
falls idle. It grows only while the batch before it is being written (or until it
is full), so a quiet stream lags by one target transaction, and a busy one gets
larger batches, fewer target transactions, exactly when it needs them.
"""

from __future__ import annotations

import contextlib
import select
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from orchestrator.db import pgoutput
from orchestrator.db.apply import TargetDB, encode
from orchestrator.db.catalog import TableInfo, split_name
from orchestrator.db.mapping import Entity
from orchestrator.db.pgoutput import UNCHANGED
from orchestrator.db.source import Seeing, SourceDB
from orchestrator.db.speedups import C
from orchestrator.errors import ReplayRefused, StreamStopped

DEFAULT_MAX_SLOT_WAL = 1 << 30  # 1 GiB
WAL_CHECK_S = 5.0
WAL_CHECK_CHANGES = 10_000  # inside one transaction, look at the cap this often
IDLE_PROBE_S = 1.0
IDLE_PROBE_FAST_S = 0.01  # when a cutover waits for a position
IDLE_WAIT_S = 0.2  # nothing to read and nothing to write: wait this long for the socket
SWITCH_INTERVAL_S = 0.0005
FETCH = object()  # the row had unchanged TOAST values: read it from the source
CHANGES = frozenset(b"IUDT")  # pgoutput's insert, update, delete and truncate messages
KEEPALIVE_S = 1.0  # while waiting to see a transaction, answer the server this often
PENDING_PRUNE = 10_000  # unconfirmed xids kept before asking the server to thin them


@dataclass
class StreamStats:
    applied_lsn: int = 0
    transactions: int = 0
    changes: int = 0
    batches: int = 0
    last_commit_ts: int = 0  # microseconds since 2000-01-01, as pgoutput sends it


@dataclass
class Changes:
    """A run of changes between truncates, collapsed to one final state per entity."""

    finals: dict = field(default_factory=dict)  # entity -> None | row | FETCH
    # Entities whose first change here is an insert: the target cannot hold them yet
    # (the log only has changes after the snapshot, and each is applied once), so
    # their rows are copied straight in, skipping the staged upsert.
    fresh: set = field(default_factory=set)


@dataclass
class Batch:
    segments: list = field(default_factory=list)  # [("changes", Changes) | ("truncate", [t])]
    changes: int = 0
    end_lsn: int = 0
    commit_ts: int = 0

    def current(self) -> Changes:
        if not self.segments or self.segments[-1][0] != "changes":
            self.segments.append(("changes", Changes()))
        return self.segments[-1][1]


class Stream:
    def __init__(
        self, source: SourceDB, target: TargetDB, direction,
        batch_changes: int = 20_000,
        on_batch: Callable[[StreamStats], None] = lambda _s: None,
        max_slot_wal: int = DEFAULT_MAX_SLOT_WAL, fast: bool = False,
        as_of: str | None = None,
    ) -> None:
        self.max_slot_wal = max_slot_wal
        # A cutover is waiting on this stream: probe the send point and look at the
        # stop flag every few ms, not at the pace that suits a long-running sync.
        self.fast = fast
        # Reads of the source's rows, as of this exported snapshot rather than now:
        # for a stream that stops at the snapshot's point (verify.py).
        self.as_of = as_of
        self._last_wal_check = 0.0
        self.source = source
        self.target = target
        self.direction = direction
        self.batch_changes = batch_changes
        self.on_batch = on_batch
        # relation oid -> (its table, and for a table whose rows stay text, its key's)
        self.relations: dict[int, tuple[str, TableInfo, Callable[[tuple], tuple] | None]] = {}
        self.stats = StreamStats()
        self._last_probe = 0.0
        self._abandon = False
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future, Batch] | None = None
        # relation oid -> (table, key columns' places, their decoders), for the tables
        # whose rows stay text: what the C helper's collapse_text reads.
        self._text_tables: dict[int, tuple[str, tuple[int, ...], tuple]] = {}
        # Transactions decoded since a snapshot last proved them visible: any read of
        # the source's current rows must see them all (visibility.py).
        self._unseen: set[int] = set()

    def run(self, stop: threading.Event, until_lsn: int | None = None) -> StreamStats:
        """Stream until `stop` is set, or until the target holds `until_lsn` exactly:
        every transaction that committed at or before it, none after (verify compares
        the two sides there). Then the position is `until_lsn`, unless the target
        was past it already."""
        start = self.target.position()
        if start is None:
            raise ReplayRefused(
                f"stream {self.source.stream} has no position on the target",
                "take the snapshot first ('greenswap replay run' does it)",
            )
        self.stats.applied_lsn = pgoutput.lsn_int(start)
        try:
            self._check_wal_cap(force=True)
        except ReplayRefused:
            self.target.forget_position()
            self.source.drop()
            raise
        conn = self.source.replication_connection()
        try:
            cur = conn.cursor()
            cur.start_replication(
                slot_name=self.source.stream, decode=False, start_lsn=start,
                # messages: a fence's final commit is a logical message (fence.py)
                options={"proto_version": "1", "publication_names": self.source.publication,
                         "messages": "true"},
                status_interval=5,
            )
            # The writer needs the GIL back after every server round trip; at CPython's
            # default 5 ms switch interval the decoding thread would hold it that long
            # each time, and the pipeline would stall. Process-wide, and left so: the
            # processes that stream want it throughout.
            switch = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"apply/{self.source.stream}")
            # Stopped mid-resolve: that batch is dropped; the one before still lands.
            with contextlib.suppress(StreamStopped):
                self._loop(cur, stop, until_lsn)
            self._land(cur)
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)  # never leave a write behind on the target
                sys.setswitchinterval(switch)
            conn.close()
            if self._abandon:
                # Only now that our connection has let go of the slot can it be dropped.
                self.target.forget_position()
                self.source.drop()
        return self.stats

    def _loop(self, cur, stop: threading.Event, until_lsn: int | None) -> None:
        batch: Batch | None = Batch()
        # None between transactions; a list from Begin to Commit. "Between" is what
        # matters: the position may only move on its own when no transaction is open,
        # or a crash could skip one that was sent but not yet applied.
        txn: list | None = None
        xid = 0
        while batch is not None and not stop.is_set():
            if until_lsn is not None and self.stats.applied_lsn >= until_lsn and txn is None:
                return
            msg = cur.read_message()
            if msg is None:
                batch = self._idle(cur, batch, stop, txn is None, until_lsn)
                continue
            payload = msg.payload
            if payload[0] in CHANGES:  # the common case first: this runs per change
                if txn is not None:
                    txn.append(payload)  # as sent: parsed at its commit (_add_all)
                    if not len(txn) % WAL_CHECK_CHANGES:
                        self._check_wal_cap()  # a huge transaction must not escape the cap
                continue
            m = pgoutput.parse(payload)
            if isinstance(m, pgoutput.Begin):
                txn, xid = [], m.xid
            elif isinstance(m, pgoutput.Commit):
                done, txn = txn or [], None
                batch = self._commit(cur, batch, stop, m, done, xid, until_lsn)
            elif isinstance(m, pgoutput.Relation):
                self._relation(m)

    def _idle(self, cur, batch: Batch, stop: threading.Event, between: bool,
              until_lsn: int | None) -> Batch:
        """Nothing to read just now: land or flush what is ready, else wait a little.
        Returns the batch to go on filling."""
        self._check_wal_cap()
        if self._in_flight is not None and self._in_flight[0].done():
            self._land(cur)
        if batch.segments and self._in_flight is None:
            return self._flush(cur, batch, stop)
        if self._in_flight is not None:
            wait([self._in_flight[0]], timeout=IDLE_PROBE_FAST_S)
            return batch
        fast = self.fast or until_lsn is not None
        if not batch.segments and between:
            self._advance_idle(cur, fast, until_lsn)
        select.select([cur], [], [], IDLE_PROBE_FAST_S if fast else IDLE_WAIT_S)
        return batch

    def _commit(self, cur, batch: Batch, stop: threading.Event, m: pgoutput.Commit,
                done: list, xid: int, until_lsn: int | None) -> Batch | None:
        """A whole transaction (`done`) into the batch, flushed when full or when the
        writer is free. Returns the batch to go on filling; None once `until_lsn` is
        reached."""
        self._check_wal_cap()
        if m.end_lsn <= self.stats.applied_lsn:
            return batch  # already on the target: exactly once, even if resent
        if until_lsn is not None and m.end_lsn > until_lsn:
            # The first commit past the point: everything before it is in hand.
            self._reach(cur, batch, stop, min(until_lsn, m.commit_lsn))
            return None
        self._add_all(batch, done)
        self._unseen.add(xid)
        batch.end_lsn, batch.commit_ts = m.end_lsn, m.commit_ts
        self.stats.transactions += 1
        # A busy source never leaves the socket idle, so the writer is asked here too:
        # free, it takes the batch now; busy, the batch grows until it is done. A
        # batch of empty transactions waits: only its position would be written.
        writer_free = self._in_flight is None or self._in_flight[0].done()
        if batch.segments and (writer_free or batch.changes >= self.batch_changes):
            return self._flush(cur, batch, stop)
        return batch

    def _abandon_stream(self) -> None:
        """The stream cannot go on: its slot is dropped and its position forgotten as
        `run` exits (at once if streaming has not started)."""
        self._abandon = True

    def _check_wal_cap(self, force: bool = False) -> None:
        """A slot the target cannot keep up with pins WAL on the source without bound.
        Over the cap, drop it (freeing the source's disk) and stop: sync starts over."""
        now = time.monotonic()
        if not force and now - self._last_wal_check < WAL_CHECK_S:
            return
        self._last_wal_check = now
        retained = self.source.retained_wal()
        if retained > self.max_slot_wal:
            self._abandon_stream()
            raise ReplayRefused(
                f"slot {self.source.stream} retained {retained // 2**20} MiB of WAL on the "
                f"source, over the cap of {self.max_slot_wal // 2**20} MiB; the slot was "
                "dropped to protect the source's disk",
                "find why replay fell behind (see lag), then start the sync again",
            )

    def _advance_idle(self, cur, fast: bool, until_lsn: int | None) -> None:
        """With nothing pending, everything the server has sent is applied: move the
        position to the server's send point (no further than `until_lsn`). It keeps
        the slot from pinning WAL written to unpublished tables, and tells a waiting
        cutover it has caught up.

        The send point is how far the server has decoded: every transaction that
        committed before it has been sent in full, in commit order."""
        now = time.monotonic()
        if now - self._last_probe < (IDLE_PROBE_FAST_S if fast else IDLE_PROBE_S):
            return
        self._last_probe = now
        sent = cur.wal_end or 0
        if until_lsn is not None:
            sent = min(sent, until_lsn)
        self._advance(cur, sent)
        # Ask for a keepalive (a fresh send point) now: without force, psycopg2 only
        # sends feedback every status_interval, and the answer would wait for it.
        cur.send_feedback(reply=True, force=True)

    def _advance(self, cur, lsn: int) -> None:
        """Store `lsn` as the position, with no change behind it since the last."""
        if lsn > self.stats.applied_lsn:
            # No source commit is behind this position, so no commit time either.
            self.target.apply([], pgoutput.lsn_text(lsn), None)
            cur.send_feedback(write_lsn=lsn, flush_lsn=lsn)
            self.stats.applied_lsn = lsn
            self.on_batch(self.stats)  # a waiting cutover learns it has caught up

    def _reach(self, cur, batch: Batch, stop: threading.Event, lsn: int) -> None:
        """A commit past the point asked for arrived: the batch (all at or before it)
        lands, and nothing in between committed, so the position moves to `lsn`: the
        point, or the start of that commit's record if the point fell inside it (a
        position past a commit's start would skip that commit on the next start)."""
        if batch.segments:
            self._flush(cur, batch, stop)
        self._land(cur)
        self._advance(cur, lsn)

    def _relation(self, rel: pgoutput.Relation) -> None:
        # The transform may name a table with or without "public.".
        table = next((t for t in (f"{rel.namespace}.{rel.name}", rel.name)
                      if t in self.source.infos and split_name(t) == (rel.namespace, rel.name)),
                     None)
        if table is None:
            return
        info = self.source.infos[table]
        names = [c.name for c in rel.columns]
        retyped = [c.name for c, oid in zip(rel.columns, info.type_oids, strict=False)
                   if c.type_oid != oid]
        if names != list(info.columns) or retyped:
            # Sync must start over on the new schema: release blue's WAL now.
            self._abandon_stream()
            change = (f"its columns are now {names}, not {list(info.columns)}"
                      if names != list(info.columns) else f"{', '.join(retyped)} changed type")
            raise ReplayRefused(
                f"DDL on {table} while replaying: {change}; replay stopped and no cutover "
                "may start",
                "replay cannot follow schema changes on the source; start the rollout again",
            )
        text_key = None
        if self.direction.keeps_text(table):
            key = self.direction.source_key(table)
            text_key = _key_of_text(info, key)
            at = tuple(info.columns.index(c) for c in key)
            decoders = info.decoders()
            self._text_tables[rel.oid] = (table, at, tuple(decoders[i] for i in at))
        self.relations[rel.oid] = (table, info, text_key)

    def _row(self, relation: int, values: tuple) -> tuple[str, dict]:
        table, info, _ = self.relations[relation]
        if UNCHANGED not in values:
            return table, info.row(values)  # pgoutput sends every column, in order
        # Unchanged TOAST values stay marked: the row is read from the source instead.
        row = dict(zip(info.columns, values, strict=True))
        for name, dec in zip(info.columns, info.decoders(), strict=True):
            value = row[name]
            if value is not None and value is not UNCHANGED and dec is not str:
                row[name] = dec(value)
        return table, row

    def _add_all(self, batch: Batch, payloads: list[bytes]) -> None:
        """One transaction's changes (as sent) into the batch, in order: runs of the
        kept-text tables' changes collapsed in C where it was built (as `_add_text`
        does), every other change parsed and added here."""
        i, n = 0, len(payloads)
        while i < n:
            if C is not None and self._text_tables:
                changes = batch.current()
                end = C.collapse_text(payloads, i, self._text_tables, changes.finals,
                                      changes.fresh, UNCHANGED, FETCH)
                batch.changes += end - i
                if end > i:
                    i = end
                    continue
            self._add(batch, pgoutput.parse(payloads[i]))
            i += 1

    def _add(self, batch: Batch, m) -> None:
        batch.changes += 1
        if isinstance(m, pgoutput.Truncate):
            tables = [self.relations[r][0] for r in m.relations if r in self.relations]
            if tables:
                batch.segments.append(("truncate", tables))
            return
        changes = batch.current()
        finals = changes.finals
        table, _, text_key = self.relations[m.relation]
        if text_key is not None:
            self._add_text(changes, m, table, text_key)
            return
        if isinstance(m, pgoutput.Delete):
            table, old = self._row(m.relation, m.old)
            finals[self.direction.entity(table, old)] = None
            return
        table, new = self._row(m.relation, m.new)
        entity = self.direction.entity(table, new)
        if type(m) is pgoutput.Insert and entity not in finals:
            changes.fresh.add(entity)
        if isinstance(m, pgoutput.Update) and m.old is not None:
            _, old = self._row(m.relation, m.old)
            old_entity = self.direction.entity(table, old)
            if old_entity != entity:
                finals[old_entity] = None  # the key changed: the old entity is gone
        if self.direction.needs_rows and UNCHANGED in m.new:
            finals[entity] = FETCH
        else:
            finals[entity] = new

    @staticmethod
    def _add_text(changes: Changes, m, table: str, key_of: Callable[[tuple], tuple]) -> None:
        """`_add` for a table whose rows the target computes (keeps_text): the row is
        kept as the tuple of text the log sent, and only its key is decoded."""
        finals = changes.finals
        if type(m) is pgoutput.Delete:
            finals[(table, key_of(m.old))] = None
            return
        new = m.new
        entity = (table, key_of(new))
        if type(m) is pgoutput.Insert:
            if entity not in finals:
                changes.fresh.add(entity)
        elif m.old is not None:
            old_entity = (table, key_of(m.old))
            if old_entity != entity:
                finals[old_entity] = None  # the key changed: the old entity is gone
        # keeps_text is forward only, which needs the row itself (needs_rows)
        finals[entity] = FETCH if UNCHANGED in new else new

    def _flush(self, cur, batch: Batch, stop: threading.Event) -> Batch:
        # Reads of the source's current rows (g's input, unchanged TOAST values) see
        # every transaction decoded so far, or they would read the state before them.
        read = self.source.seeing(self._unseen, self._waiting(cur, stop), self.as_of)
        segments = []
        try:
            for kind, payload in batch.segments:
                if kind == "truncate":
                    segments.append(("truncate", self.direction.truncate_targets(payload)))
                else:
                    segments.append(("writes", encode(self.direction.resolve(
                        self._finals(payload.finals, read), read, payload.fresh))))
        finally:
            read.close()
        self._forget_seen(read)
        self._land(cur)  # one batch in flight at a time, landing in commit order
        assert self._writer is not None
        written = self._writer.submit(self.target.apply, segments,
                                      pgoutput.lsn_text(batch.end_lsn), _ts_text(batch.commit_ts))
        self._in_flight = (written, batch)
        return Batch()

    def _land(self, cur) -> None:
        """Wait for the batch in flight to commit on the target (raising its error,
        if any), then confirm its position to the source."""
        if self._in_flight is None:
            return
        written, batch = self._in_flight
        self._in_flight = None
        written.result()
        cur.send_feedback(write_lsn=batch.end_lsn, flush_lsn=batch.end_lsn)
        self.stats.applied_lsn = batch.end_lsn
        self.stats.last_commit_ts = batch.commit_ts
        self.stats.changes += batch.changes
        self.stats.batches += 1
        self.on_batch(self.stats)

    def _waiting(self, cur, stop: threading.Event) -> Callable[[], None]:
        last = [time.monotonic()]

        def waiting() -> None:
            if stop.is_set():
                raise StreamStopped
            if time.monotonic() - last[0] >= KEEPALIVE_S:
                last[0] = time.monotonic()
                cur.send_feedback(force=True)  # the server must not time the stream out
        return waiting

    def _forget_seen(self, read: Seeing) -> None:
        """Once a snapshot has seen them, decoded transactions stay visible. A stream
        that never reads (forward, no TOAST) thins the set now and then instead."""
        if read.opened:
            self._unseen.clear()
        elif len(self._unseen) > PENDING_PRUNE:
            snapshot = self.source.snapshot()
            self._unseen = {x for x in self._unseen if not snapshot.sees(x)}

    def _finals(self, raw: dict, read: Seeing) -> dict[Entity, dict | tuple | None]:
        """Resolve FETCH entries by reading those source rows, in `read`'s snapshot."""
        finals: dict[Entity, dict | tuple | None] = {}
        wanted: dict[str, list[Entity]] = {}
        for entity, value in raw.items():
            if value is FETCH:
                # Only forward replay fetches, and its entity is (table, source key).
                wanted.setdefault(entity[0], []).append(entity)
            else:
                finals[entity] = value
        for table, entities in wanted.items():
            current = read(table, [key for _, key in entities])
            as_text = self.direction.keeps_text(table)
            for entity in entities:
                row = current.get(entity[1])
                if row is not None:
                    finals[entity] = tuple(row.values()) if as_text else row
                # else: gone on the source since; a later delete in the log says so.
        return finals


def _key_of_text(info: TableInfo, key: tuple[str, ...]) -> Callable[[tuple], tuple]:
    """The entity key of a row as the log sends it (text): decoded as `info.row`
    decodes it, so that it is the key a fetched or a decoded row has."""
    where = [info.columns.index(c) for c in key]
    decoders = info.decoders()
    if len(where) == 1:
        i, dec = where[0], decoders[where[0]]
        if dec is str:
            return lambda values: (values[i],)
        return lambda values: (dec(values[i]),)
    pairs = [(i, decoders[i]) for i in where]
    return lambda values: tuple(dec(values[i]) for i, dec in pairs)


def _ts_text(commit_ts: int) -> str | None:
    if not commit_ts:
        return None
    # pgoutput timestamps count microseconds from 2000-01-01 UTC.
    epoch = 946684800 + commit_ts / 1_000_000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + \
        f".{int(commit_ts % 1_000_000):06d}+00"

