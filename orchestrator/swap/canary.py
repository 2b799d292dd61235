"""The swap when both colours share one database (database.mode: shared).

There is nothing to fence and nothing to catch up: the LB alone moves the traffic,
all at once, or in canary steps (cutover.canary_steps, an ALB's weights) with green
watched between steps by its bake checks. A failed watch sends every request back
to blue before the error goes on, so a canary never stays half-way on a failure.
"""

from __future__ import annotations

import time

from orchestrator import faults
from orchestrator.db.lag import LagSample
from orchestrator.errors import CanaryFailed
from orchestrator.lb.base import canary, weighted
from orchestrator.ops.checks import FailedRounds
from orchestrator.swap.cutover import SwapResult
from orchestrator.swap.parts import Parts
from orchestrator.swap.steplog import FLIP, StepLog


class SharedDatabase:
    """The Swapper of a rollout whose colours share one database: nothing to build,
    sync, verify, fence or feed; the LB alone moves the traffic."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.cfg, self.blue, self.green = parts.cfg, parts.blue, parts.green
        self.rec = parts.recorder

    def check_blue(self) -> None:
        pass  # the shared database is neither synced nor changed

    def app_database(self) -> str:
        assert self.cfg.database.host is not None  # config: shared mode requires it
        return self.cfg.database.host

    def migrate(self) -> None:
        self.rec.record("schema", "skip", "shared database: its schema is not changed by a rollout")

    def sync(self) -> None:
        self.rec.record("sync", "skip", "shared database: nothing to sync")

    def verify(self) -> None:
        pass  # one database: green's data is blue's

    def finish_interrupted(self) -> bool:
        """Every request on blue, as before any cutover: undoes a canary step a crash
        left behind (the listener split), and is a no-op otherwise. The canary then
        starts again from blue, so nothing is ever finished here."""
        lb = weighted(self.parts.lb)
        if lb.weights()[self.blue] != 100:
            lb.flip(self.blue, release=True)
            self.rec.record("cutover", "restore",
                            f"an interrupted canary: all requests back on {self.blue}")
        return False

    def prepare(self) -> None:
        pass  # finish_interrupted has put every request back on blue

    def move(self) -> SwapResult:
        """All requests to green, in the configured steps; each step timed, and kept
        in the step log as it happens (a crash mid-canary leaves where it was)."""
        lb, new = weighted(self.parts.lb), self.green
        steps: dict[str, float] = {}
        percents = self.cfg.cutover.canary_steps
        began = time.monotonic()
        with StepLog(self.parts.run_dir, "cutover") as log:
            if percents == (100,):
                log.begin(FLIP)
                lb.flip(new, release=True)
                steps[FLIP] = _ms(began)
                log.end(FLIP, steps[FLIP])
                return SwapResult(steps=steps, pause_ms=None)

            def watch(percent: int) -> None:
                step = f"{percent}%"
                log.begin(step)
                steps[step] = _ms(began)
                self.rec.record("cutover", "canary", f"{percent}% of requests on {new}",
                                weights=lb.weights())
                faults.point(f"canary {step}")
                if percent < 100:  # at 100 % the bake takes over the watching
                    self._watch(new, percent)
                log.end(step, _ms(began) - steps[step])

            canary(lb, new, percents, watch, self.rec.say)
        return SwapResult(steps=steps, pause_ms=None)

    def move_back(self) -> SwapResult | None:
        self.parts.lb.flip(self.blue, release=True)  # nothing to catch up: every write is there
        return None

    def put_blue_back(self) -> None:
        pass  # no swap of databases can have begun

    def green_took_traffic(self) -> bool:
        self.finish_interrupted()  # a canary cut short: every request back on blue first
        return False

    def keep_blue_fed(self) -> None:
        pass  # one database: nothing to feed

    def watch_feed(self, restarts: int) -> int:
        return 0

    def feed_lag(self) -> LagSample | None:
        return None

    def retire(self) -> None:
        pass

    def _watch(self, color: str, percent: int) -> None:
        """A whole canary_interval_s of green's bake checks, a round every bake.interval_s,
        counted from this step's own start (a canary cut short starts again from blue,
        never from a journaled time); journaled with its start, end and rounds."""
        bake = self.cfg.bake
        clock = self.parts.clock
        start = clock.now()
        until = start + self.cfg.cutover.canary_interval_s
        rounds, checked = FailedRounds(bake.failures), 0
        try:
            while clock.now() < until:
                self.parts.lease_check()
                problems = self.parts.checks("bake", color)
                checked += 1
                if rounds.count(problems):
                    raise CanaryFailed(f"canary at {percent}% failed: {problems[0]}")
                clock.sleep(min(bake.interval_s, max(0.0, until - clock.now())))
        finally:
            self.rec.record("cutover", "watched", f"canary at {percent}%: watched {color}"
                            f" for {clock.now() - start:.1f} s, {checked} round(s) of checks",
                            start=start, end=clock.now(), rounds=checked)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)
