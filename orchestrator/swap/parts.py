"""What a swap needs from the rollout that runs it, declared here, by the swap: the
runbook builds a swapper with these parts once (`orchestrator.swap.for_config`), and
each phase then calls it with nothing more. So the swap never reaches back up into
the runbook (the way Vitess's traffic switcher declares the interface it consumes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.config import Config
from orchestrator.db.lag import LagSample
from orchestrator.db.sync import SyncDriver
from orchestrator.lb.base import LoadBalancer
from orchestrator.providers.base import Host
from orchestrator.remote.ansible import PlaybookResult
from orchestrator.swap.cutover import CutoverData, Swap, SwapResult


class SwapData(SyncDriver, CutoverData, Protocol):
    """The data side as a swap uses it: the rollout's share and the cutover's."""


class Recorder(Protocol):
    """What a swap tells the rollout that runs it: journal lines, facts, words to
    the operator, points of the report's charts."""

    facts: dict  # the rollout's facts so far ("blue", "green", "cutover_at"...)

    def record(self, phase: str | None, kind: str, message: str, **data) -> None: ...
    def remember(self, **facts) -> None: ...
    def say(self, message: str) -> None: ...
    def sample(self, phase: str, direction: str, lag: LagSample | None) -> None: ...


class Hosts(Protocol):
    """What a swap asks of the fleet: green's database host, and greenswap's own
    playbooks run on it."""

    def db_host(self, color: str) -> Host: ...
    def playbook(self, key: str, target: str, limit: str | None = None,
                 **extravars: object) -> PlaybookResult: ...


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Parts:
    """A swap's dependencies, given by the runbook when it builds the swapper."""

    cfg: Config
    lb: LoadBalancer
    sync: SwapData | None  # None: a shared database, which nothing syncs
    hosts: Hosts
    labels: dict[str, str]  # "blue" and "green" -> this rollout's colour labels
    run_dir: Path
    recorder: Recorder
    clock: Clock
    arm: Callable[[Swap], Stoppable]  # a watchdog for a swap, armed before its hold
    checks: Callable[[str, str], list[str]]  # (scope, colour) -> failures, journaled
    lease_check: Callable[[], None]  # raises LeaseLost once the lease is gone

    @property
    def blue(self) -> str:
        return self.labels["blue"]

    @property
    def green(self) -> str:
        return self.labels["green"]


class Swapper(Protocol):
    """What the runbook's phases ask of the data and the traffic, in phase order."""

    def check_blue(self) -> None:
        """preflight: blue's database can be followed (keys, WAL level, slot room)."""

    def app_database(self) -> str:
        """deploy: green's database, ready; its address, for the app's deploy playbook."""
        ...

    def migrate(self) -> None:
        """schema: green's database gets the new schema."""

    def sync(self) -> None:
        """sync: green kept in step with blue, lag under the cutover's threshold."""

    def verify(self) -> None:
        """verify: green's data is f(blue)'s."""

    def finish_interrupted(self) -> bool:
        """cutover, first: put right what a crash mid-swap left; True if the swap
        had already happened and is now finished."""
        ...

    def prepare(self) -> None:
        """cutover: everything as before any swap, ready to start (or start again)."""

    def move(self) -> SwapResult:
        """cutover: the traffic (and the writes) from blue to green."""
        ...

    def move_back(self) -> SwapResult | None:
        """rollback: the traffic back to blue, losing nothing; None if nothing paused."""
        ...

    def put_blue_back(self) -> None:
        """abort: blue serving and writable, nothing held."""

    def green_took_traffic(self) -> bool:
        """abort: has green served (then only a rollback may end the rollout)?"""
        ...

    def keep_blue_fed(self) -> None:
        """resume and rollback, between cutover and retire: blue keeps receiving
        green's writes."""

    def watch_feed(self, restarts: int) -> int:
        """bake: blue is still fed; returns the feed's restarts in a row."""
        ...

    def feed_lag(self) -> LagSample | None:
        """bake: how far blue's feed is behind, for the report; None if unknown."""
        ...

    def retire(self) -> None:
        """retire: stop feeding blue."""
