"""Lag, apply rate and ETA of a stream, as data for `status`, reports and metrics.

Everything is read from the two databases (the slot on the source, the position on
the target), so any process can ask, not only the replayer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.db.apply import SCHEMA
from orchestrator.db.connect import connect
from orchestrator.db.source import RETAINED_WAL


@dataclass(frozen=True)
class LagSample:
    at: float  # monotonic seconds
    source_lsn: int  # everything the source has written
    applied_lsn: int  # what the target holds
    retained_bytes: int  # WAL the slot keeps on the source
    seconds: float  # age of the last applied source commit, 0 when caught up

    @property
    def bytes(self) -> int:
        return max(0, self.source_lsn - self.applied_lsn)


@dataclass(frozen=True)
class Lag:
    bytes: int
    seconds: float
    apply_bytes_per_s: float | None
    eta_seconds: float | None  # None: not catching up (or not known yet)
    retained_bytes: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def sample(source_dsn: str, target_dsn: str, stream: str) -> LagSample:
    source, target = connect(source_dsn, "lag-source"), connect(target_dsn, "lag-target")
    try:
        with source.cursor() as cur:
            cur.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint,"
                f" {RETAINED_WAL}", (stream,))
            source_lsn, retained = cur.fetchone()
        with target.cursor() as cur:
            cur.execute(
                f"SELECT pg_wal_lsn_diff(lsn, '0/0')::bigint,"
                f" extract(epoch FROM now() - coalesce(source_ts, applied_at))"
                f" FROM {SCHEMA}.replay_position WHERE stream = %s", (stream,))
            row = cur.fetchone()
    finally:
        source.close()
        target.close()
    applied, age = (row[0], float(row[1])) if row else (0, 0.0)
    behind = source_lsn > applied
    return LagSample(time.monotonic(), source_lsn, applied, retained, age if behind else 0.0)


def lag(previous: LagSample | None, current: LagSample) -> Lag:
    """Lag now, with rates from the change since `previous` (None: rates unknown)."""
    rate = eta = None
    if previous is not None and current.at > previous.at:
        dt = current.at - previous.at
        rate = (current.applied_lsn - previous.applied_lsn) / dt
        closing = (previous.bytes - current.bytes) / dt  # how fast the gap shrinks
        if current.bytes == 0:
            eta = 0.0
        elif closing > 0:
            eta = current.bytes / closing
    return Lag(current.bytes, current.seconds, rate, eta, current.retained_bytes)
