"""The lab as a provider: hosts are namespace hosts on this machine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config.section import Section
from orchestrator.errors import LabError
from orchestrator.lab import network
from orchestrator.lab.lab import Lab
from orchestrator.lab.settings import LAB_STATE_ROOT, NAME_RE, LabSettings
from orchestrator.lab.state import HostRecord
from orchestrator.providers.base import Host, ProviderKind

if TYPE_CHECKING:
    from orchestrator.config import Config


@dataclass(frozen=True)
class LabConfig:
    """provider.* for kind lab."""

    lab: str = "gs"
    state_root: Path | None = None  # for a lab brought up with other paths (the tests do)
    inventory_dir: Path | None = None

    @classmethod
    def read(cls, section: Section) -> LabConfig:
        return cls(section.text("lab", default=cls.lab, pattern=NAME_RE),
                   section.path("state_root", default=None),
                   section.path("inventory_dir", default=None))

    @property
    def state_dir(self) -> Path:
        # A rollout on a lab keeps its journal with the lab: `lab down` removes both, and
        # a new lab (each `make demo`) does not inherit rollouts whose hosts are gone.
        return (self.state_root or LAB_STATE_ROOT) / self.lab / "rollouts"

    @property
    def paths(self) -> dict[str, Path]:
        """The lab's paths the config gives, to find the lab by."""
        return {k: v for k, v in (("state_root", self.state_root),
                                  ("inventory_dir", self.inventory_dir)) if v is not None}


def open_lab(cfg: Config) -> LabProvider:
    """provider.kind lab: the lab the config names, which must be up."""
    settings: LabConfig = cfg.provider.settings
    lab = Lab(LabSettings.resolve(settings.lab, None, **settings.paths))
    if not lab.status().exists:
        raise LabError(f"provider.lab: lab {settings.lab} is not up",
                       f"run 'greenswap lab up --name {settings.lab}' (or 'make demo')")
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


KIND = ProviderKind(LabConfig.read, open_lab)
