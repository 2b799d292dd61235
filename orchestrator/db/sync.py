"""The data side of a rollout: replay streams, fences, positions and sequences.

Between cutovers a stream runs as its own process (`greenswap replay run`), so it
outlives the CLI and a crash of either loses nothing: the position lives in the
target database. For the cutover's last stretch the stream is taken in-process
(`follow`), where it probes fast and can be stopped the instant it has caught up.

Streams are named per rollout and direction, so a resumed rollout finds its own
slots and never touches another's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import psycopg2

from orchestrator import processes
from orchestrator.db import lag as lag_data
from orchestrator.db import schema
from orchestrator.db.apply import SCHEMA
from orchestrator.db.connect import connect
from orchestrator.db.fence import Fence
from orchestrator.db.mismatch import VerifyResult
from orchestrator.db.pgoutput import lsn_int
from orchestrator.db.progress import TableProgress
from orchestrator.db.replayer import Replay
from orchestrator.db.sequences import sync_sequences
from orchestrator.db.stream import StreamStats
from orchestrator.db.transform import Transform
from orchestrator.db.transform import load as load_transform
from orchestrator.db.verify import verify_at_point
from orchestrator.errors import GreenswapError, ReplayError

DIRECTIONS = {"forward": ("blue", "green"), "reverse": ("green", "blue")}  # source, target


class Follower(Protocol):
    def wait_for(self, lsn: int, deadline: float) -> None: ...
    def stop(self) -> None: ...


class Readiness(Protocol):
    """Before any stream: the source can be followed, the target has its schema
    (preflight and the schema phase)."""

    def check_source(self, direction: str) -> None:
        """The direction's source can be followed: keys, WAL level, slot room."""
    def migrate(self, color: str, migrations: Sequence[Path], app_user: str,
                applied: Callable[[str], None]) -> None:
        """The colour's database gets each migration once, as the app's role."""


class Streams(Protocol):
    """The background streams and how far behind they are (sync, bake, retire,
    `status`)."""

    def start(self, direction: str) -> None:
        """Run the direction's stream in the background (idempotent)."""
    def running(self, direction: str) -> bool: ...
    def stop(self, direction: str) -> None: ...
    def failure(self, direction: str) -> str: ...
    def position(self, direction: str) -> int | None: ...
    def snapshot_progress(self, direction: str) -> TableProgress | None:
        """How far the snapshot under way has got; None before its first rows."""
    def lag_bytes(self, direction: str) -> int: ...
    def lag(self, direction: str) -> lag_data.LagSample: ...
    def drop(self, direction: str) -> None: ...
    def verify(self, direction: str) -> VerifyResult:
        """The whole target against the transform of the source, both as of one
        point in the source's log."""


class SyncDriver(Readiness, Streams, Protocol):
    """What a rollout asks of the data side outside the swap itself (the swap's
    share is declared by the swap: swap/cutover.py's CutoverData): the real Sync,
    or db/fakes.py's FakeSync, which are both."""

    def close(self) -> None: ...


@dataclass
class Sync:
    """The real driver, against the two colours' PostgreSQL."""

    # Colour label ("blue"/"green" of this rollout) -> admin DSN, asked when first
    # needed: at preflight, green has no database host yet.
    dsn: Callable[[str], str]
    transform_path: Path
    stream_base: str  # e.g. greenswap_7: the rollout's streams are <base>_f and <base>_r
    log_dir: Path
    app_user: str  # the app's role: greenswap's must be a member of it
    max_slot_wal_mb: int = 1024
    # Processes this Sync started, by direction: right after exec a process's
    # cmdline can still read empty, so our own children are asked directly.
    children: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Kept open across a swap, whose pause is made of round trips: one admin
    # connection per colour, and streams built (catalogs read) before the hold.
    _fences: dict[str, Fence] = field(default_factory=dict)
    _replays: dict[str, Replay] = field(default_factory=dict)

    @cached_property
    def transform(self) -> Transform:
        return load_transform(self.transform_path)

    def stream(self, direction: str) -> str:
        return f"{self.stream_base}_{direction[0]}"

    def _dsn(self, direction: str) -> tuple[str, str]:
        source, target = DIRECTIONS[direction]
        return self.dsn(source), self.dsn(target)

    def replay(self, direction: str) -> Replay:
        source, target = self._dsn(direction)
        return Replay(source, target, self.transform, self.stream(direction), direction)

    # -- the databases -----------------------------------------------------------

    def check_source(self, direction: str) -> None:
        source, _target = DIRECTIONS[direction]
        schema.check_followable(self.dsn(source), self.transform.tables, self.max_slot_wal_mb,
                                self.app_user)

    def migrate(self, color: str, migrations: Sequence[Path], app_user: str,
                applied: Callable[[str], None]) -> None:
        schema.migrate(self.dsn(color), migrations, app_user, applied)

    # -- the background process --------------------------------------------

    def _log(self, direction: str) -> Path:
        return self.log_dir / f"replay-{self.stream(direction)}.log"

    def _progress(self, direction: str) -> Path:
        return self.log_dir / f"replay-{self.stream(direction)}.progress.json"

    def snapshot_progress(self, direction: str) -> TableProgress | None:
        return TableProgress.read(self._progress(direction))

    def _pidfile(self, direction: str) -> Path:
        return self.log_dir / f"replay-{self.stream(direction)}.pid"

    def _pid(self, direction: str) -> int | None:
        try:
            pid = int(self._pidfile(direction).read_text())
        except (OSError, ValueError):
            return None
        return pid if processes.is_ours(pid, self.stream(direction)) else None

    def running(self, direction: str) -> bool:
        child = self.children.get(direction)
        if child is not None and child.poll() is None:
            return True
        return self._pid(direction) is not None

    def start(self, direction: str) -> None:
        # A stream held in this process (a swap's catch-up) keeps the stream's
        # advisory lock on the target: let go first, or the replayer is refused.
        cached = self._replays.pop(direction, None)
        if cached is not None:
            cached.close()
        if self.running(direction):
            return
        source, target = self._dsn(direction)
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._progress(direction).unlink(missing_ok=True)  # an earlier snapshot's
        with open(self._log(direction), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "replay", "run",
                 "--source", source, "--target", target,
                 "--transform", str(self.transform_path), "--direction", direction,
                 "--stream", self.stream(direction),
                 "--max-slot-wal-mb", str(self.max_slot_wal_mb), "--json",
                 "--dead-letter", str(self.log_dir / f"{direction}.dead-letter.jsonl"),
                 "--progress", str(self._progress(direction))],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # it must outlive this CLI, and its Ctrl-C
            )
        self._pidfile(direction).write_text(str(proc.pid))
        self.children[direction] = proc

    def stop(self, direction: str) -> None:
        child = self.children.pop(direction, None)
        if child is not None and child.poll() is None:
            # SIGTERM: the batch in hand is applied and the position stored, then it exits.
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        pid = self._pid(direction)
        if pid is not None:
            processes.stop_pid(pid, self.stream(direction), signal.SIGTERM, deadline_s=30)
        self._pidfile(direction).unlink(missing_ok=True)

    def failure(self, direction: str) -> str:
        """The last line the background replayer wrote (why it stopped)."""
        try:
            lines = self._log(direction).read_text()
        except OSError:
            return "no log"
        return next((ln for ln in reversed(lines.splitlines()) if ln.strip()), "no output")

    # -- positions ----------------------------------------------------------

    def position(self, direction: str) -> int | None:
        _source, target = self._dsn(direction)
        conn = connect(target, "position")
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT to_regclass('{SCHEMA}.replay_position') IS NOT NULL")
                if not cur.fetchone()[0]:
                    return None
                cur.execute(f"SELECT lsn::text FROM {SCHEMA}.replay_position WHERE stream = %s",
                            (self.stream(direction),))
                row = cur.fetchone()
        finally:
            conn.close()
        return lsn_int(row[0]) if row else None

    def lag_bytes(self, direction: str) -> int:
        return self.lag(direction).bytes

    def lag(self, direction: str) -> lag_data.LagSample:
        source, target = self._dsn(direction)
        return lag_data.sample(source, target, self.stream(direction))

    # -- the swap's steps ------------------------------------------------------

    def _admin(self, color: str) -> Fence:
        if color not in self._fences:
            self._fences[color] = Fence(self.dsn(color))
        return self._fences[color]

    def _take(self, direction: str) -> Replay:
        return self._replays.pop(direction, None) or self.replay(direction)

    def prepare(self, direction: str) -> None:
        """Connect and read catalogs now, so that drop/anchor in the pause do not."""
        if direction not in self._replays:
            self._replays[direction] = self.replay(direction)

    def follow(self, direction: str) -> _InProcess:
        self.stop(direction)
        replay = self._take(direction)
        self._replays[direction] = replay  # drop() reuses it once the thread is done
        return _InProcess(replay, self.max_slot_wal_mb << 20)

    def drop(self, direction: str) -> None:
        self.stop(direction)
        replay = self._take(direction)
        try:
            replay.drop()
        finally:
            replay.close()

    def anchor(self, direction: str) -> None:
        replay = self._take(direction)
        try:
            replay.start()
        finally:
            replay.close()  # its advisory lock must go before the replayer starts

    def fence(self, color: str) -> int:
        return self._admin(color).fence()

    def long_writers(self, color: str, older_than_s: float) -> list[str]:
        return self._admin(color).long_writers(older_than_s)

    def flushed_lsn(self, color: str) -> int:
        with self._admin(color).conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_flush_lsn()::text")
            return lsn_int(cur.fetchone()[0])

    def unfence(self, color: str) -> None:
        try:
            self._admin(color).unfence()
        except (GreenswapError, psycopg2.Error):
            # The kept connection may be the thing that broke: once more, afresh.
            self._fences.pop(color).close()
            self._admin(color).unfence()

    def sequences(self, direction: str) -> dict[str, int]:
        source, target = DIRECTIONS[direction]
        return sync_sequences(self._admin(source).conn, self._admin(target).conn,
                              self.transform, direction)

    def close(self) -> None:
        for fence in self._fences.values():
            fence.close()
        for replay in self._replays.values():
            replay.close()
        self._fences.clear()
        self._replays.clear()

    def verify(self, direction: str) -> VerifyResult:
        """The whole target against the transform of the source, both as of one point
        in the source's log (verify.verify_at_point): the background replayer stops,
        this process replays to the point, and the replayer runs again as soon as
        both snapshots are held, while they are compared (also if it was not running
        before: a resumed rollout's sync may have been left without it)."""
        self.stop(direction)
        try:
            replay = self._take(direction)
        except BaseException:
            self.start(direction)
            raise

        def resumed() -> None:
            replay.close()  # its advisory lock must go before the replayer starts
            self.start(direction)
        return verify_at_point(replay, resumed, max_slot_wal=self.max_slot_wal_mb << 20)


class _InProcess:
    """A stream run on a thread of this process, for the cutover's final catch-up."""

    def __init__(self, replay: Replay, max_slot_wal: int) -> None:
        self.replay = replay
        self.max_slot_wal = max_slot_wal
        # Where the target stands before this stream applies anything: a deadline
        # message then says how far it got, not "at 0".
        self.applied = lsn_int(replay.target.position() or "0/0")
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catch-up", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def seen(stats: StreamStats) -> None:
            self.applied = stats.applied_lsn
        try:
            stats = self.replay.stream_changes(self._stop, on_batch=seen, fast=True,
                                               max_slot_wal=self.max_slot_wal)
            self.applied = stats.applied_lsn
        except BaseException as exc:  # handed to the cutover, which decides
            self.error = exc

    def wait_for(self, lsn: int, deadline: float) -> None:
        while True:
            if self.error is not None:
                raise ReplayError(f"catch-up stream failed: {self.error}",
                                  "the cutover aborts; see the replayer's message")
            if self.applied >= lsn:
                return
            if time.monotonic() > deadline:
                raise ReplayError(f"catch-up did not reach the final position before the"
                                  f" deadline (at {self.applied:X}, need {lsn:X})",
                                  "the cutover aborts; check lag, then try again")
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            # Stuck in the database: its connections must never be used again.
            self.replay.close()
            raise ReplayError("the catch-up stream did not stop within 30 s",
                              "the swap aborts; check both databases for locks")
