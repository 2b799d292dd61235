"""Existing servers as a provider: blue and green pools from the operator's inventory.

No API makes machines here. The operator's Ansible inventory (YAML) lists both pools
as groups ``blue_app``, ``blue_db``, ``green_app``, ``green_db``, and ``lb``; the
colours are labels, as everywhere in greenswap, so after a rollout retires blue the
next rollout re-provisions that pool as its green.

- "destroying" a host releases it: its app and database are stopped
  (playbooks/release.yml), it leaves greenswap's inventory and the LB, and the
  release is remembered in the state directory;
- "creating" hosts claims released hosts of the colour's pool back; the playbooks
  then re-provision them (a green database is always rebuilt from nothing);
- greenswap talks only to addresses listed in the inventory, over SSH with the keys
  pinned in the operator's known_hosts: a host without a pinned key is refused.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
import yaml

from orchestrator.config.section import Section
from orchestrator.errors import ConfigError, InputError
from orchestrator.fsutil import write_atomic
from orchestrator.providers import inventory
from orchestrator.providers.base import (
    COLORLESS_ROLES,
    COLORS,
    ROLES,
    Host,
    ProviderKind,
    check_count,
)
from orchestrator.remote.ansible import run_playbook

if TYPE_CHECKING:
    from orchestrator.config import Config

POOL_GROUPS: dict[str, tuple[str, str | None]] = {
    f"{color}_{role}": (role, color) for color in COLORS
    for role in ROLES if role not in COLORLESS_ROLES}
POOL_GROUPS.update({role: (role, None) for role in COLORLESS_ROLES})


@dataclass(frozen=True)
class StaticSettings:
    """provider.* for kind static."""

    inventory: Path  # the operator's YAML inventory: blue_app, blue_db, green_app, ...
    ssh_key: Path
    known_hosts: Path  # every host's key pinned here; greenswap never learns keys
    state_dir = None  # the journal is in /var/lib/greenswap, unless state_dir says

    @classmethod
    def read(cls, section: Section) -> StaticSettings:
        return cls(section.file("inventory"), section.private_file("ssh_key"),
                   section.file("known_hosts"))


def open_static(cfg: Config) -> StaticProvider:
    """provider.kind static: the two pools of the operator's inventory."""
    fleet: StaticSettings = cfg.provider.settings
    release = cfg.app.release
    return StaticProvider(fleet.inventory, fleet.ssh_key, fleet.known_hosts,
                          cfg.state_dir / cfg.environment,
                          release=(*([str(release)] if release else []), "release.yml"))


class StaticProvider:
    def __init__(self, inventory_path: Path, key_path: Path, known_hosts: Path,
                 state_dir: Path, release: tuple[str, ...] = ("release.yml",)) -> None:
        self.key_path, self.known_hosts, self.state_dir = key_path, known_hosts, state_dir
        # Run in order to take a host out of service: the app's own stop playbook
        # (app.release), then greenswap's, which stops the database.
        self.release = release
        self.pool = read_pools(inventory_path)
        _check_pinned(self.pool, known_hosts)
        self._released_path = state_dir / "static-released.json"

    # -- the Provider protocol --------------------------------------------------------

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        check_count(count)
        released = self._released()
        spare = [h for h in self.pool if (h.role, h.color) == (role, color)
                 and h.name in released]
        if len(spare) < count:
            raise InputError(
                f"provider.inventory: group {color}_{role} has {len(spare)} released host(s);"
                f" this rollout needs {count} more",
                f"add hosts to {color}_{role} in the inventory, or lower provider.green_hosts")
        claimed = spare[:count]
        self._write_released(released - {h.name for h in claimed})
        return claimed

    def destroy_hosts(self, names: Iterable[str]) -> None:
        names = list(names)
        known = {h.name for h in self.hosts()}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(f"hosts: no host in service named {', '.join(unknown)}")
        if not names:
            return
        for playbook in self.release:
            run_playbook(playbook, self.inventory(), self.state_dir / "runs",
                         extravars={"target": ",".join(names)}).raise_for_failure()
        self._write_released(self._released() | set(names))

    def hosts(self) -> list[Host]:
        released = self._released()
        return [h for h in self.pool if h.name not in released]

    def inventory(self) -> Path:
        path = self.state_dir / "static-inventory.yml"
        inventory.write(path, inventory.render(self.hosts(), self.key_path, self.known_hosts, ""))
        return path

    def ssh_identity(self) -> tuple[Path, Path]:
        return self.key_path, self.known_hosts

    def check_route(self, address: str) -> None:
        if address not in {h.address for h in self.pool}:
            raise InputError(f"address {address} is not a host of the inventory; greenswap "
                             "talks only to the servers it was given")

    # -- the pool's state ---------------------------------------------------------------

    def _released(self) -> set[str]:
        try:
            return set(json.loads(self._released_path.read_text())["released"])
        except FileNotFoundError:
            return set()

    def _write_released(self, names: set[str]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self._released_path, json.dumps({"released": sorted(names)}) + "\n", 0o600)


def read_pools(path: Path) -> list[Host]:
    """The hosts of the pool groups in a YAML Ansible inventory, each in exactly one."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError("provider.inventory", f"{path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError("provider.inventory", f"{path} is not a YAML inventory",
                          "INI inventories can be converted with "
                          "'ansible-inventory -i FILE --list --yaml'") from None
    groups: dict[str, dict[str, dict]] = {}
    _collect(doc if isinstance(doc, dict) else {}, groups)
    found: dict[str, Host] = {}
    for group, (role, color) in POOL_GROUPS.items():
        for name, hostvars in groups.get(group, {}).items():
            if name in found:
                raise ConfigError("provider.inventory", f"host {name} is in two pool groups "
                                  f"({found[name].role}/{found[name].color} and {group})")
            found[name] = Host(name, role, color, _address(name, hostvars or {}))
    missing = [g for g in ("blue_app", "blue_db", "green_app", "green_db", "lb")
               if g not in groups]
    if missing:
        raise ConfigError("provider.inventory", f"{path} has no group {', '.join(missing)}",
                          "a static fleet lists both pools: blue_app, blue_db, green_app, "
                          "green_db, and lb")
    return sorted(found.values(), key=lambda h: h.name)


def _collect(node: dict, groups: dict[str, dict[str, dict]]) -> None:
    """Groups -> {host: vars}, through nested children (a group's hosts include its
    children's, as Ansible reads it)."""
    for group, body in node.items():
        if body is None:  # "green_db:" with nothing under it: a group with no hosts
            groups.setdefault(group, {})
            continue
        if not isinstance(body, dict):
            continue
        hosts = dict(body.get("hosts") or {})
        children = body.get("children") or {}
        _collect(children, groups)
        for child in children:
            hosts.update(groups.get(child, {}))
        groups.setdefault(group, {}).update(hosts)


def _address(name: str, hostvars: dict) -> str:
    address = str(hostvars.get("ansible_host", name))
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError("provider.inventory", f"host {name}: ansible_host {address!r} is not"
                          " an IP address", "give each host its address, so that greenswap "
                          "knows exactly where it sends traffic") from None
    return address


def _check_pinned(hosts: list[Host], known_hosts: Path) -> None:
    try:
        pinned = paramiko.HostKeys(str(known_hosts))
    except OSError as exc:
        raise ConfigError("provider.known_hosts", f"{known_hosts} cannot be read: "
                          f"{exc.strerror}") from None
    for host in hosts:
        # ed25519: the one key type greenswap's SSH and Ansible accept (inventory.py).
        if "ssh-ed25519" not in (pinned.lookup(host.address) or {}):
            raise ConfigError("provider.known_hosts", f"no pinned ssh-ed25519 key for {host.name} "
                              f"({host.address}) in {known_hosts}",
                              f"add it after checking it out of band: ssh-keyscan -t ed25519 "
                              f"{host.address}, compared with the host's own key")


KIND = ProviderKind(StaticSettings.read, open_static)
