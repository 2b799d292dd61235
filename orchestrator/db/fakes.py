"""The data side in memory, for unit tests of the swap's logic and for the rehearsal
(`greenswap plan`): FakeSync stands for sync.Sync."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator.db import lag as lag_data
from orchestrator.db.mismatch import VerifyResult
from orchestrator.db.progress import TableProgress
from orchestrator.db.sync import Follower
from orchestrator.errors import ReplayError


class FakeSync:
    """In memory, for unit tests of the swap's logic: records every call in order."""

    def __init__(self, lag: int = 0, applied_after: float = 0.0,
                 events: list[str] | None = None) -> None:
        self.events: list[str] = [] if events is None else events  # may be the LB's
        self.lag_now, self.applied_after = lag, applied_after
        self.fenced: set[str] = set()
        self.long_writes: dict[str, int] = {}  # colour -> polls until its long txn ends
        self.streams: set[str] = {"forward"}
        self.background: set[str] = {"forward"}
        self.copying: TableProgress | None = None  # a snapshot's, while it has no position

    def check_source(self, direction: str) -> None:
        self.events.append(f"check source {direction}")

    def migrate(self, color: str, migrations: Sequence[Path], app_user: str,
                applied: Callable[[str], None]) -> None:
        self.events.append(f"migrate {color}")
        for path in migrations:
            applied(path.name)

    def start(self, direction: str) -> None:
        self.events.append(f"start {direction}")
        self.streams.add(direction)
        self.background.add(direction)

    def running(self, direction: str) -> bool:
        return direction in self.background

    def stop(self, direction: str) -> None:
        self.background.discard(direction)

    def position(self, direction: str) -> int | None:
        return 100 if direction in self.streams else None

    def snapshot_progress(self, direction: str) -> TableProgress | None:
        return self.copying

    def lag_bytes(self, direction: str) -> int:
        return self.lag_now

    def lag(self, direction: str) -> lag_data.LagSample:
        return lag_data.LagSample(time.monotonic(), 100 + self.lag_now, 100, self.lag_now, 0.0)

    def verify(self, direction: str) -> VerifyResult:
        self.events.append(f"verify {direction}")
        return VerifyResult(direction)

    def prepare(self, direction: str) -> None:
        self.events.append(f"prepare {direction}")

    def follow(self, direction: str) -> Follower:
        self.stop(direction)
        self.events.append(f"follow {direction}")
        return _FakeFollower(self)

    def drop(self, direction: str) -> None:
        self.events.append(f"drop {direction}")
        self.streams.discard(direction)
        self.background.discard(direction)

    def anchor(self, direction: str) -> None:
        self.events.append(f"anchor {direction}")
        self.streams.add(direction)

    def flushed_lsn(self, color: str) -> int:
        return 41

    def fence(self, color: str) -> int:
        self.events.append(f"fence {color}")
        self.fenced.add(color)
        return 42

    def failure(self, direction: str) -> str:
        return f"the {direction} replayer died"

    def long_writers(self, color: str, older_than_s: float) -> list[str]:
        left = self.long_writes.get(color, 0)
        if left:
            self.long_writes[color] = left - 1 if left > 0 else left  # < 0: never ends
            return [f"pid 7 (batch, open {older_than_s:.0f}s)"]
        return []

    def unfence(self, color: str) -> None:
        self.events.append(f"unfence {color}")
        self.fenced.discard(color)

    def sequences(self, direction: str) -> dict[str, int]:
        self.events.append(f"sequences {direction}")
        return {}

    def close(self) -> None:
        pass


class _FakeFollower:
    def __init__(self, sync: FakeSync) -> None:
        self.sync = sync

    def wait_for(self, lsn: int, deadline: float) -> None:
        if time.monotonic() + self.sync.applied_after > deadline:
            raise ReplayError("catch-up did not reach the final position before the deadline")
        time.sleep(self.sync.applied_after)
        self.sync.events.append(f"caught up {lsn}")

    def stop(self) -> None:
        self.sync.events.append("follower stopped")
