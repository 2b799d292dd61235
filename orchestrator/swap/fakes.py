"""A swap's parts in memory, for unit tests: a recorder that keeps what it is told,
and Parts around the fakes of the LB and the data side."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.db.lag import LagSample
from orchestrator.lb.base import LoadBalancer
from orchestrator.providers.base import Host
from orchestrator.remote.ansible import PlaybookResult
from orchestrator.swap.cutover import Swap
from orchestrator.swap.parts import Parts, Stoppable, SwapData


class FakeRecorder:
    def __init__(self, facts: dict | None = None) -> None:
        self.facts: dict = facts if facts is not None else {"blue": "blue", "green": "green"}
        self.events: list[tuple] = []  # (phase, kind, message, data)
        self.said: list[str] = []

    def record(self, phase: str | None, kind: str, message: str, **data) -> None:
        self.events.append((phase, kind, message, data))

    def remember(self, **facts) -> None:
        self.facts.update(facts)

    def say(self, message: str) -> None:
        self.said.append(message)

    def sample(self, phase: str, direction: str, lag: LagSample | None) -> None:
        self.events.append((phase, "sample", direction, {"lag": lag}))


class _NoHosts:
    def db_host(self, color: str) -> Host:
        raise AssertionError("no host in this test")

    def playbook(self, key: str, target: str, limit: str | None = None,
                 **extravars: object) -> PlaybookResult:
        raise AssertionError("no playbook in this test")


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class _Unarmed:
    def stop(self) -> None:
        pass


def fake_parts(cfg: Config, lb: LoadBalancer, sync: SwapData, run_dir: Path,
               recorder: FakeRecorder | None = None) -> Parts:
    """Parts of a swap between the colours labelled blue and green, with no hosts,
    a clock that moves only when slept, watchdogs that do nothing and checks that
    pass."""
    def arm(_plan: Swap) -> Stoppable:
        return _Unarmed()
    return Parts(cfg, lb, sync, _NoHosts(), {"blue": "blue", "green": "green"}, run_dir,
                 recorder or FakeRecorder(), _Clock(), arm, lambda _scope, _color: [],
                 lambda: None)
