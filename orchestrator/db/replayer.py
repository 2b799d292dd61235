"""A replay, start to end: snapshot if the target has none, then the stream.

This is what `greenswap replay run` drives, in a process of its own: it keeps no
state but what the target database holds, so it can be killed at any moment and
started again anywhere.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.db.apply import TargetDB, computed_targets
from orchestrator.db.inverse import inverse_queries
from orchestrator.db.mapping import Forward, Reverse
from orchestrator.db.sequences import follows, sequences, sync_sequences
from orchestrator.db.snapshot import SnapshotResult, anchor, take_snapshot
from orchestrator.db.source import SourceDB
from orchestrator.db.stream import DEFAULT_MAX_SLOT_WAL, Stream, StreamStats
from orchestrator.db.transform import Transform
from orchestrator.errors import InputError

DIRECTIONS: dict[str, type[Forward] | type[Reverse]] = {"forward": Forward, "reverse": Reverse}
STREAM_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")


@dataclass
class Replay:
    source_dsn: str
    target_dsn: str
    transform: Transform
    stream: str
    direction: str = "forward"

    def __post_init__(self) -> None:
        if not STREAM_NAME.match(self.stream):
            raise InputError(
                f"stream: {self.stream!r} is not a stream name; use 1-50 lowercase letters, "
                "digits or _ (it names a slot and a publication)"
            )
        if self.direction not in DIRECTIONS:
            raise InputError(f"direction: {self.direction!r} is not forward or reverse")
        self.mapping = DIRECTIONS[self.direction](self.transform)
        sources = self.mapping.source_tables()
        targets = self.mapping.target_tables()
        self.source = SourceDB(
            self.source_dsn, self.stream, {t: self.mapping.source_key(t) for t in sources}
        )
        self.target = TargetDB(self.target_dsn, self.stream, targets,
                               {t: self.mapping.target_key(t) for t in targets})
        try:
            if isinstance(self.mapping, Forward):  # a SQL f runs on the target
                self.target.compute(computed_targets(self.transform, self.source.infos,
                                                     self.target.infos))
            else:  # a SQL g on the source, green, in the stream's snapshot
                self.mapping.inverses = inverse_queries(
                    list(self.transform.tables.values()), self.source.infos, self.target.infos)
                for query in self.mapping.inverses.values():
                    query.try_on(self.source.conn)
        except BaseException:
            self.source.close()
            self.target.close()  # (a target that refused closed itself already)
            raise

    def start(self, progress: Callable[[str, int], None] = lambda _t, _n: None
              ) -> SnapshotResult | str | None:
        """Give the stream a starting position if it has none: forward by copying a
        snapshot through f; reverse by anchoring at the current point (at cutover
        blue already equals g(green)). None when the stream had one already."""
        if self.direction == "reverse":
            return anchor(self.source, self.target)
        return take_snapshot(self.source, self.target, self.transform, progress)

    def stream_changes(self, stop: threading.Event, until_lsn: int | None = None,
                       on_batch: Callable[[StreamStats], None] = lambda _s: None,
                       max_slot_wal: int = DEFAULT_MAX_SLOT_WAL, fast: bool = False,
                       as_of: str | None = None) -> StreamStats:
        stream = Stream(self.source, self.target, self.mapping, on_batch=on_batch,
                        max_slot_wal=max_slot_wal, fast=fast, as_of=as_of)
        return stream.run(stop, until_lsn)

    def sequences_following(self) -> list[str]:
        """Target sequences that follow the source: replay does not move them (they
        are not in the change log); `sync_sequences` or a cutover does."""
        theirs, ours = sequences(self.source.conn), sequences(self.target.conn)
        return [f.target for f in follows(theirs, ours, self.transform, self.direction)]

    def sync_sequences(self) -> dict[str, int]:
        return sync_sequences(self.source.conn, self.target.conn, self.transform,
                              self.direction)

    def drop(self) -> None:
        """End the stream for good: forget the position, then drop the slot and
        publication (in that order: a position without its slot could never resume)."""
        self.target.forget_position()
        self.source.drop()

    def close(self) -> None:
        self.source.close()
        self.target.close()

