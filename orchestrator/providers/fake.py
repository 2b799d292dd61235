"""An in-memory provider for unit tests of logic that needs hosts but no machines."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.providers.base import Host, check_count, check_role


class FakeProvider:
    def __init__(self, inventory_path: Path = Path("/dev/null")) -> None:
        self._hosts: dict[str, Host] = {}
        self._inventory = inventory_path
        self._next = 10

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        check_role(role, color)
        check_count(count)
        created = []
        for _ in range(count):
            prefix = f"{color}-{role}" if color else role
            n = 1
            while f"{prefix}-{n}" in self._hosts:
                n += 1
            host = Host(f"{prefix}-{n}", role, color, f"198.18.0.{self._next}")
            self._next += 1
            self._hosts[host.name] = host
            created.append(host)
        return created

    def destroy_hosts(self, names: Iterable[str]) -> None:
        names = list(names)
        unknown = [n for n in names if n not in self._hosts]
        if unknown:
            raise InputError(f"hosts: unknown host(s) {', '.join(unknown)}")
        for name in names:
            del self._hosts[name]

    def hosts(self) -> list[Host]:
        return sorted(self._hosts.values(), key=lambda h: h.name)

    def inventory(self) -> Path:
        return self._inventory

    def ssh_identity(self) -> tuple[Path, Path]:
        return Path("/dev/null"), Path("/dev/null")

    def check_route(self, address: str) -> None:
        return None
