"""The swap of databases (database.mode: swap): green has a database of its own,
built from nothing with the new schema, kept in step with blue through the
transform, proven equal to f(blue), and swapped to with a hold, a fence and a
catch-up (cutover.py). After the flip, reverse replay keeps blue fed through the
inverse, so that a rollback is one more swap that loses nothing.
"""

from __future__ import annotations

import time

import psycopg2

from orchestrator.db.lag import LagSample
from orchestrator.db.mismatch import MAX_SHOWN, shown
from orchestrator.db.pgoutput import lsn_text
from orchestrator.errors import (
    GreenswapError,
    PreflightFailed,
    ReplayError,
    VerifyFailed,
)
from orchestrator.lb.base import holding
from orchestrator.swap.cutover import CUTOVER, ROLLBACK, Swap, SwapResult, swap
from orchestrator.swap.parts import Parts, Stoppable
from orchestrator.swap.steplog import StepLog

SYNC_PROGRESS_S = 5.0
SAMPLE_S = 1.0  # lag and LB answers recorded for the report while waiting on sync


class DatabaseSwap:
    """The Swapper of a rollout whose colours each have a database."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        assert parts.sync is not None  # swap_for gives a database swap its data side
        self.cfg, self.lb, self.data = parts.cfg, parts.lb, parts.sync
        self.blue, self.green = parts.blue, parts.green
        self.rec = parts.recorder

    # -- before any traffic moves --------------------------------------------------

    def check_blue(self) -> None:
        """Every table the transform reads can be replayed, and blue's WAL can hold a slot."""
        self.data.check_source("forward")

    def app_database(self) -> str:
        """Green's database server, built from nothing; its address."""
        if self.lb.live_color() == self.green:  # never: but this is about to drop a cluster
            raise PreflightFailed(f"green ({self.green}) is live at the LB; its database is "
                                  "not rebuilt",
                                  "see 'greenswap status'; the journal and the LB disagree")
        # Built from nothing, also on a reused (static) host: rows left from an earlier
        # life would corrupt the snapshot. The database accepts the environment's own
        # network: the colours' hosts, the LB and the controller, which replays and fences.
        address = self.parts.hosts.db_host(self.green).address
        self.parts.hosts.playbook("db", f"{self.green}_db", recreate=True,
                                  allowed_cidr=".".join(address.split(".")[:3]) + ".0/24",
                                  **self.cfg.database.names())
        return address

    def migrate(self) -> None:
        """Green's migrations, each once, as the app's role."""
        self.data.migrate("green", self.cfg.database.migrations, self.cfg.database.app_user,
                          lambda name: self.rec.say(f"migration {name} applied"))

    def sync(self) -> None:
        """Snapshot blue through the transform, then stream its change log until the lag
        is under the cutover's threshold."""
        self.data.start("forward")
        self._wait_synced()

    def _wait_synced(self) -> None:
        """A replayer that stopped is an error with its last words."""
        data = self.data
        deadline = time.monotonic() + self.cfg.database.sync_timeout_s
        last_said = last_sample = 0.0
        while True:
            if not data.running("forward"):
                raise ReplayError(f"the forward replayer stopped: {data.failure('forward')}",
                                  "fix the cause, then 'greenswap resume'")
            lag = data.lag("forward") if data.position("forward") is not None else None
            if time.monotonic() - last_sample >= SAMPLE_S:
                last_sample = time.monotonic()
                self.rec.sample("sync", "forward", lag)
            if lag is not None and lag.bytes <= self.cfg.cutover.lag_threshold_bytes:
                self.rec.remember(sync_lag_bytes=lag.bytes)
                return
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"sync did not catch up within {self.cfg.database.sync_timeout_s}s",
                    "raise database.sync_timeout_s, or check the replayer's log")
            if time.monotonic() - last_said > SYNC_PROGRESS_S:
                last_said = time.monotonic()
                self._say_progress(lag)
            time.sleep(0.2)

    def _say_progress(self, lag: LagSample | None) -> None:
        """The lag once streaming; before, how far the snapshot has got (kept in the
        facts too, so that `status` shows it)."""
        if lag is not None:
            self.rec.say(f"sync: lag {lag.bytes} bytes")
            return
        copying = self.data.snapshot_progress("forward")
        if copying is None:
            self.rec.say("sync: snapshot starting")
            return
        self.rec.say(f"sync: {copying.line()}")
        self.rec.remember(sync_snapshot=copying.as_dict())

    def verify(self) -> None:
        """Green == f(blue), every key and column, both as of one point in blue's log."""
        result = self.data.verify("forward")
        self.rec.remember(verified_keys=result.keys,
                          verified_at=None if result.lsn is None else lsn_text(result.lsn))
        if not result.ok:
            self.rec.record("verify", "mismatch", result.summary(), direction=result.direction,
                            keys=[[m.table, [shown(v) for v in m.key]]
                                  for m in result.mismatches[:1000]],
                            rows=[m.as_dict() for m in result.mismatches[:MAX_SHOWN]],
                            next=result.next_step())
            raise VerifyFailed(result.summary(), f"{result.next_step()}; 'greenswap status'"
                                                 " shows each key's rows")

    # -- the swap --------------------------------------------------------------------

    def finish_interrupted(self) -> bool:
        """A crash after the flip leaves only the tail: done here, True."""
        if self.lb.live_color() != self.green:
            return False
        self._finish_flipped(CUTOVER)
        return True

    def prepare(self) -> None:
        """Before a (re)try: blue serving and writable, no half-made reverse stream, the
        forward stream running (a crash mid-cutover may have left any of these)."""
        self.put_blue_back()
        self.data.drop("reverse")
        self.data.start("forward")
        self._wait_synced()

    def move(self) -> SwapResult:
        return self._swap(CUTOVER)

    def move_back(self) -> SwapResult | None:
        if self.lb.live_color() == self.blue:
            self._finish_flipped(ROLLBACK)
            return None
        return self._swap(ROLLBACK)

    def put_blue_back(self) -> None:
        """Blue serving and writable, nothing held: how a swap cut short before its
        flip must leave the LB and blue's database."""
        self.data.unfence("blue")
        holding(self.lb).release()

    def green_took_traffic(self) -> bool:
        return self.lb.live_color() == self.green

    def _swap(self, plan: Swap) -> SwapResult:
        """One swap with a watchdog, armed just before the hold: if this process dies
        mid-swap, the watchdog puts the old colour back (unfenced, released) once the
        pause bound has passed."""
        dogs: list[Stoppable] = []
        steps: dict[str, float] = {}
        try:
            with StepLog(self.parts.run_dir, plan.name) as log:
                result = swap(plan, holding(self.lb), self.data, self.cfg.cutover,
                              arm=lambda: dogs.append(self.parts.arm(plan)),
                              labels={"blue": self.blue, "green": self.green}, log=log)
            steps = result.steps
            return result
        except BaseException as exc:
            steps = getattr(exc, "steps", {})
            raise
        finally:
            for dog in dogs:
                dog.stop()
            # Written after the pause, not in it: each journal write waits for the disk.
            for name, ms in steps.items():
                self.rec.record("cutover", "step", name, ms=ms)

    def _finish_flipped(self, plan: Swap) -> None:
        """The LB already points at the new colour (a crash came after the flip): flip
        again, which also persists the map file and releases, and start what feeds the
        old colour."""
        self.lb.flip(self.rec.facts[plan.new], release=True)
        if plan.next_stream:
            if "cutover_at" not in self.rec.facts:
                self.rec.remember(cutover_at=self.parts.clock.now())
            self.data.start(plan.next_stream)

    # -- after the swap: blue kept fed, then retired ------------------------------------

    def keep_blue_fed(self) -> None:
        """Between cutover and retire (the runbook asks only then), the reverse
        replayer must run (it may have died with the machine): a rollback catches up
        from it."""
        if self.lb.live_color() == self.green:
            self.data.start("reverse")

    def watch_feed(self, restarts: int) -> int:
        """Blue must stay fed for a rollback: a reverse replayer found stopped is started
        again, once. Found stopped again right after (a row g raises on, say), a rollback
        could no longer catch blue up: the bake stops with the replayer's last words,
        green stays live, and nothing is torn down. Returns the restarts in a row."""
        if self.data.running("reverse"):
            return 0
        why = self.data.failure("reverse")
        if restarts >= 1:
            raise ReplayError(f"reverse replay keeps stopping, so blue is no longer fed: {why}",
                              "green stays live; fix the cause, then 'greenswap resume'")
        self.rec.record("bake", "restart", f"reverse replayer was not running ({why}); restarted")
        self.data.start("reverse")
        return restarts + 1

    def feed_lag(self) -> LagSample | None:
        """For the report only: a database that does not answer now is bake's business."""
        try:
            return self.data.lag("reverse")
        except (GreenswapError, psycopg2.Error):
            return None

    def retire(self) -> None:
        self.data.drop("reverse")
