"""How far a long copy or check has got, per table: rows done, rows a second and
the time left (against the planner's estimate of the table's rows).

Said every few seconds, so that a long snapshot shows it is moving in a terminal
and in a log alike, and written whole to a file (0600: table names are the app's)
where a rollout run by another process reads it for its own progress and status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from orchestrator.fsutil import write_atomic


@dataclass(frozen=True)
class TableProgress:
    what: str  # snapshot | verify | ...
    table: str
    rows: int
    estimate: int  # the planner's rows of the table; 0: not known
    rows_per_s: float

    @property
    def eta_s(self) -> float | None:
        if self.estimate > self.rows and self.rows_per_s > 0:
            return round((self.estimate - self.rows) / self.rows_per_s, 1)
        return None

    def line(self) -> str:
        of = f" of ~{self.estimate:,}" if self.estimate else ""
        eta = f", ETA {self.eta_s:.0f}s" if self.eta_s is not None else ""
        return (f"{self.what} {self.table}: {self.rows:,}{of} rows,"
                f" {self.rows_per_s:,.0f} rows/s{eta}")

    def as_dict(self) -> dict:
        return {**asdict(self), "eta_s": self.eta_s}

    @classmethod
    def from_dict(cls, data: object) -> TableProgress | None:
        """What as_dict gave (eta_s is worked out again); None if it is not that."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{f.name: data[f.name] for f in fields(cls)})
        except (KeyError, TypeError):
            return None

    @classmethod
    def read(cls, path: Path) -> TableProgress | None:
        """The last progress written to `path`; None if there is none (yet)."""
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None


class RowProgress:
    """Called with (table, rows so far) as rows go by; says and writes its progress
    about every EVERY_S seconds."""

    EVERY_S = 2.0

    def __init__(self, what: str, estimates: dict[str, int], say: Callable[[str], None],
                 file: Path | None = None, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.what, self.estimates, self.say, self.file = what, estimates, say, file
        self.clock = clock
        self.first: dict[str, tuple[float, int]] = {}  # table -> (when, rows) first told
        self.last = 0.0

    def __call__(self, table: str, rows: int) -> None:
        now = self.clock()
        if table not in self.first:
            # The rows of the first call were copied before anything was timed: the
            # rate counts from here, or a first chunk would look instantaneous.
            self.first[table] = (now, rows)
            self.last = now
            return
        if now - self.last < self.EVERY_S:
            return
        self.last = now
        since, rows_then = self.first[table]
        progress = TableProgress(self.what, table, rows, self.estimates.get(table, 0),
                                 round((rows - rows_then) / max(now - since, 1e-6), 1))
        self.say(progress.line())
        if self.file is not None:
            write_atomic(self.file, json.dumps(progress.as_dict()), mode=0o600)
