"""The providers Protocol: create and destroy hosts by role, and say where they are.

A rollout asks a provider for green hosts, runs playbooks against its inventory,
and destroys what it no longer needs. Providers: the embedded lab (``lab``), an
in-memory fake for unit tests (``fake``); static fleets and AWS come later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from orchestrator.errors import ConfigError, InputError

ROLES = ("app", "db", "lb")
COLORS = ("blue", "green")
# The LB fronts both colours, so it has none.
COLORLESS_ROLES = ("lb",)


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    color: str | None
    address: str


def check_role(role: str, color: str | None) -> None:
    if role not in ROLES:
        raise InputError(f"role: unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role in COLORLESS_ROLES:
        if color is not None:
            raise InputError(f"color: a {role} host has no colour; leave --color out")
    elif color not in COLORS:
        raise InputError(f"color: unknown colour {color!r}; expected one of {', '.join(COLORS)}")


def check_count(count: int) -> None:
    if not 1 <= count <= 64:
        raise InputError(f"count: {count} is out of range; create 1 to 64 hosts at a time")


class Provider(Protocol):
    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        """Create `count` new hosts of `role`; return them once they accept SSH."""
        ...

    def destroy_hosts(self, names: Iterable[str]) -> None:
        """Destroy the named hosts. Unknown names are an InputError; nothing is destroyed."""
        ...

    def hosts(self) -> list[Host]: ...

    def inventory(self) -> Path:
        """Path of an Ansible inventory that lists every host with pinned host keys."""
        ...

    def ssh_identity(self) -> tuple[Path, Path]:
        """(private key, known_hosts) for SSH to this provider's hosts."""
        ...

    def check_route(self, address: str) -> None:
        """Refuse (raise) if traffic to `address` would leave the provider's network."""
        ...


@runtime_checkable
class ImageBaker(Provider, Protocol):
    """A provider whose new hosts start from an image it can bake (AWS)."""

    image_id: str | None  # what create_hosts launches from; None: its default

    def bake_image(self, base_image: str, patch: Callable[[list[Host]], None],
                   name: str) -> str:
        """An image made from `base_image` with `patch` applied; returns its id."""
        ...


def image_baker(provider: Provider) -> ImageBaker:
    """The provider as one that bakes images, or a ConfigError naming the setting."""
    if not isinstance(provider, ImageBaker):
        raise ConfigError("provider.bake_from", f"{type(provider).__name__} cannot bake images")
    return provider
