"""The providers Protocol: create and destroy hosts by role, and say where they are.

A rollout asks a provider for green hosts, runs playbooks against its inventory,
and destroys what it no longer needs. Providers: the embedded lab (``lab``), an
in-memory fake for unit tests (``fake``); static fleets and AWS come later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orchestrator.config.section import Section
from orchestrator.errors import InputError

if TYPE_CHECKING:
    from orchestrator.config import Config

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


@dataclass(frozen=True)
class ProviderKind:
    """What an entry point of the greenswap.providers group names: how one kind of
    provider reads its own keys of the config's `provider` section (when the file is
    loaded, so that mistakes there are refused before anything runs; a frozen
    dataclass whose fields are the keys) and how it opens for a rollout."""

    read_settings: Callable[[Section], Any]
    open: Callable[[Config], Provider]


@runtime_checkable
class ImageBaker(Provider, Protocol):
    """A provider whose new hosts start from an image it can bake (AWS)."""

    image_id: str | None  # what create_hosts launches from; None: its default
    base_image: str | None  # bake green's image from this at provision; None: do not

    def bake_image(self, base_image: str, patch: Callable[[list[Host]], None],
                   name: str) -> str:
        """An image made from `base_image` with `patch` applied; returns its id."""
        ...
