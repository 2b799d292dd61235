"""Lab settings: names, addresses and paths, validated once at the edge."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.fsutil import write_atomic

# The only range the lab may put addresses on (RFC 2544 benchmarking).
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
LAB_STATE_ROOT = Path("/var/lib/greenswap/labs")  # each lab's state is in <root>/<lab>
FIRST_HOST_OFFSET = 10  # .1 is the bridge; .2-.9 stay free for lab services


@dataclass(frozen=True)
class LabSettings:
    name: str = "gs"
    subnet: ipaddress.IPv4Network = field(
        default_factory=lambda: ipaddress.IPv4Network("198.18.0.0/24")
    )
    state_root: Path = LAB_STATE_ROOT
    cache_dir: Path = Path("/var/cache/greenswap")
    repo_port: int = 8080
    inventory_dir: Path | None = None

    @classmethod
    def parse(cls, name: str = "gs", subnet: str = "198.18.0.0/24", **kwargs) -> LabSettings:
        """Build settings from operator input; raise ConfigError naming the bad field."""
        if not NAME_RE.match(name):
            raise ConfigError(
                "--name", f"{name!r} is not a lab name; use 1-6 lowercase letters or digits, "
                "starting with a letter (it prefixes interface names, which are short)"
            )
        try:
            net = ipaddress.IPv4Network(subnet, strict=True)
        except ValueError as exc:
            raise ConfigError("--subnet", f"{subnet!r} is not an IPv4 network: {exc}") from None
        if not net.subnet_of(LAB_RANGE):
            raise ConfigError(
                "--subnet", f"{net} lies outside {LAB_RANGE}, the only range the lab may use"
            )
        if net.prefixlen > 26:
            raise ConfigError("--subnet", f"{net} is too small; use a /26 or larger")
        port = kwargs.get("repo_port", 8080)
        if not 1 <= int(port) <= 65535:
            raise ConfigError("repo_port", f"{port} is not a TCP port")
        return cls(name=name, subnet=net, **kwargs)

    @classmethod
    def resolve(cls, name: str = "gs", subnet: str | None = None, **kwargs: Any) -> LabSettings:
        """Settings of lab `name`: the ones it was brought up with, if it exists."""
        probe = cls.parse(name, subnet or "198.18.0.0/24", **kwargs)
        saved = probe.state_dir / "settings.json"
        try:
            recorded = json.loads(saved.read_text())
        except FileNotFoundError:
            return probe
        except PermissionError:
            return probe  # not root: the command will say so where it needs root
        if subnet is not None and recorded["subnet"] != str(probe.subnet):
            raise ConfigError(
                "--subnet", f"lab {name} already runs on {recorded['subnet']}",
                "leave --subnet out, or run 'greenswap lab down' first",
            )
        return cls.parse(name, recorded["subnet"], **{**kwargs,
                                                     "repo_port": recorded["repo_port"]})

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"subnet": str(self.subnet), "repo_port": self.repo_port}
        write_atomic(self.state_dir / "settings.json", json.dumps(record) + "\n")

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name

    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    @property
    def repo_url(self) -> str:
        return f"http://{self.gateway}:{self.repo_port}/"

    @property
    def inventory_path(self) -> Path:
        base = self.inventory_dir
        if base is None:
            in_checkout = PROJECT_ROOT / "inventories" / "lab"
            base = in_checkout if in_checkout.parent.is_dir() else self.state_dir / "inventory"
        return base / f"{self.name}.yml"

    def netns(self, host: str) -> str:
        return f"{self.name}-{host}"

    def veth(self, index: int) -> str:
        return f"{self.name}-v{index}"

    def address(self, index: int) -> ipaddress.IPv4Address:
        addr = self.subnet.network_address + FIRST_HOST_OFFSET + index
        if addr >= self.subnet.broadcast_address:
            raise ConfigError("--subnet", f"{self.subnet} has no room for host #{index}")
        return addr
