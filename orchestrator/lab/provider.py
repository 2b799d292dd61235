"""The lab as a provider: hosts are namespace hosts on this machine."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from orchestrator.config import Config
from orchestrator.errors import LabError
from orchestrator.lab import network
from orchestrator.lab.lab import Lab
from orchestrator.lab.settings import LabSettings
from orchestrator.lab.state import HostRecord
from orchestrator.providers.base import Host


def open_lab(cfg: Config) -> LabProvider:
    """provider.kind lab: the lab the config names, which must be up."""
    lab = Lab(LabSettings.resolve(cfg.lab, None, **cfg.lab_paths))
    if not lab.status().exists:
        raise LabError(f"provider.lab: lab {cfg.lab} is not up",
                       f"run 'greenswap lab up --name {cfg.lab}' (or 'make demo')")
    return LabProvider(lab)


class LabProvider:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        return [_host(r) for r in self.lab.create_hosts(role, count, color)]

    def destroy_hosts(self, names: Iterable[str]) -> None:
        self.lab.destroy_hosts(names)

    def hosts(self) -> list[Host]:
        return [_host(r) for r in self.lab.records()]

    def inventory(self) -> Path:
        return self.lab.settings.inventory_path

    def ssh_identity(self) -> tuple[Path, Path]:
        return self.lab.key_path, self.lab.known_hosts

    def check_route(self, address: str) -> None:
        network.check_on_bridge(address, self.lab.settings.bridge)


def _host(rec: HostRecord) -> Host:
    return Host(rec.name, rec.role, rec.color, rec.address)
