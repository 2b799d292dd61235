"""A fleet in memory, for unit tests and the rehearsal (`greenswap plan`)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.lb.base import LoadBalancer
from orchestrator.providers.base import Provider
from orchestrator.providers.fake import FakeProvider
from orchestrator.remote.ansible import PlaybookResult
from orchestrator.runbook.fleet import Fleet
from orchestrator.swap.parts import SwapData


class FakeFleet(Fleet):
    """For tests and the rehearsal: hosts from a FakeProvider, the LB and the
    databases the fakes given, and every playbook and check agreed to at once (each
    kept in `asked`)."""

    def __init__(self, cfg: Config, lb: LoadBalancer, sync: SwapData,
                 provider: Provider | None = None) -> None:
        super().__init__(cfg, provider or FakeProvider())
        self.fake_lb, self.fake_sync = lb, sync
        self.asked: list[str] = []

    def lb(self) -> LoadBalancer:
        return self.fake_lb

    def sync(self, labels: dict[str, str], stream_base: str, log_dir: Path) -> SwapData:
        return self.fake_sync

    def playbook(self, key: str, target: str, limit: str | None = None,
                 **extravars: object) -> PlaybookResult:
        self.asked.append(f"{Path(self.cfg.playbook(key)).name} on {target}")
        return PlaybookResult(self.cfg.playbook(key), "successful", 0)

    def check(self, scope: str, color: str) -> list[str]:
        self.asked.append(f"{scope} checks on {color}")
        return []
