"""The machine greenswap runs on, as the runbook uses it: its clock, the operator's
hooks it runs, and the watchdog it starts for a swap.

One Protocol with the real machine behind it, so that a rehearsal (`greenswap
plan`) and tests can give a controller whose clock moves only when asked and which
runs nothing: the runbook's own loops and waits then run as they are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from orchestrator.ops.hooks import run_hooks
from orchestrator.swap.parts import Stoppable
from orchestrator.swap.watchdog import Arming, Watchdog


class Controller(Protocol):
    def now(self) -> float:
        """Seconds since the epoch: the times the journal keeps (cutover_at, ...)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait, between the rounds of a bake or a canary's watch."""

    def run_hooks(self, paths: tuple[Path, ...], moment: str, facts: dict[str, object],
                  hide: tuple[str, ...]) -> list[str]:
        """The operator's hooks for `moment`, in order (ops.hooks.run_hooks)."""
        ...

    def arm_watchdog(self, arming: Arming) -> Stoppable:
        """A watchdog that puts the old colour back if this process dies mid-swap."""
        ...


class ThisMachine:
    """The real controller."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def run_hooks(self, paths: tuple[Path, ...], moment: str, facts: dict[str, object],
                  hide: tuple[str, ...]) -> list[str]:
        return run_hooks(paths, moment, facts, hide)

    def arm_watchdog(self, arming: Arming) -> Stoppable:
        return Watchdog.start(arming)
