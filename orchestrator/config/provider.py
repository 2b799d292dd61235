"""The config's `provider` section: where hosts come from and how many green gets.

`kind` names an installed provider (an entry point of the greenswap.providers
group, so that another package can bring its own); the rest of the section is that
provider's own, read and checked by it (ProviderKind.read_settings) when the file is
loaded, so a mistake there is refused before anything runs, too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

from orchestrator.config.section import Section, setting_names, shown
from orchestrator.errors import ConfigError

ENTRY_POINTS = "greenswap.providers"
COMMON = {"kind", "green_hosts"}


class KindSettings(Protocol):
    """A provider's own settings: a frozen dataclass whose fields are its keys."""

    @property
    def state_dir(self) -> Path | None:
        """Where this provider's rollouts journal when `state_dir` is not set; None:
        /var/lib/greenswap."""
        ...


class SettingsReader(Protocol):
    """The part of an installed provider kind that reading the config needs."""

    def read_settings(self, section: Section) -> KindSettings: ...


@dataclass(frozen=True)
class ProviderConfig:
    kind: str
    green_hosts: dict[str, int]  # hosts built for green, by role
    settings: Any  # the kind's own (KindSettings): its opener knows their type

    @classmethod
    def read(cls, section: Section, shared_db: bool) -> ProviderConfig:
        kind = section.text("kind")
        reader: SettingsReader = installed_kind(kind)
        hosts = _green_hosts(section, shared_db)
        settings = reader.read_settings(section)
        section.no_unknown(COMMON | setting_names(type(settings)))
        return cls(kind, hosts, settings)


@cache
def _installed() -> dict[str, EntryPoint]:
    return {e.name: e for e in entry_points(group=ENTRY_POINTS)}


def installed_kind(kind: str) -> Any:
    """The provider kind `kind` names, loaded from its entry point."""
    found = _installed().get(kind)
    if found is None:
        raise ConfigError("provider.kind", f"{shown(kind)} is not an installed provider"
                          f" (installed: {', '.join(sorted(_installed())) or 'none'})",
                          "reinstall greenswap ('make venv') if one of its own is missing")
    loaded = found.load()
    if not all(callable(getattr(loaded, a, None)) for a in ("read_settings", "open")):
        # An install older than its own entry points (kinds were opener functions).
        raise ConfigError("provider.kind", f"{shown(kind)}'s entry point {found.value} is not"
                          " a provider kind (read_settings, open)",
                          "reinstall greenswap ('make venv'), or the package that brings it")
    return loaded


def _green_hosts(provider: Section, shared_db: bool) -> dict[str, int]:
    hosts = provider.section("green_hosts", required=False)
    counts = {"app": hosts.integer("app", default=2, low=1, high=64)}
    if shared_db:  # the colours share database.host: green has none of its own
        hosts.no_unknown({"app"})
        return counts
    counts["db"] = hosts.integer("db", default=1, low=1, high=64)
    if counts["db"] != 1:
        raise ConfigError("provider.green_hosts.db", "must be 1: green has one database host")
    hosts.no_unknown(set(counts))
    return counts
