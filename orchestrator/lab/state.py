"""What the lab has created, on disk: the record `status` reads and `down` undoes.

Written atomically (temp file, rename) and readable by root only.
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.errors import LabError
from orchestrator.fsutil import write_atomic


@dataclass
class HostRecord:
    name: str
    role: str
    color: str | None
    index: int
    address: str
    host_key: str  # the public key the host serves, pinned in known_hosts
    pid: int | None = None
    image: str | None = None  # the golden image key its overlay sits on


@dataclass
class LabState:
    image: str | None = None
    repo_pid: int | None = None
    hosts: dict[str, HostRecord] = field(default_factory=dict)

    def free_index(self, also_taken: AbstractSet[int] = frozenset()) -> int:
        used = {h.index for h in self.hosts.values()} | also_taken
        return next(i for i in range(len(used) + 1) if i not in used)

    def next_name(self, role: str, color: str | None,
                  also_taken: AbstractSet[str] = frozenset()) -> str:
        prefix = f"{color}-{role}" if color else role
        n = 1
        while f"{prefix}-{n}" in self.hosts or f"{prefix}-{n}" in also_taken:
            n += 1
        return f"{prefix}-{n}"


def load(path: Path) -> LabState | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        hosts = {name: HostRecord(**rec) for name, rec in raw.get("hosts", {}).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise LabError(
            f"the lab's state file {path} is unreadable: {exc}",
            f"move {path} aside and remove the lab's namespaces by hand, or restore it",
        ) from None
    return LabState(image=raw.get("image"), repo_pid=raw.get("repo_pid"), hosts=hosts)


def save(path: Path, state: LabState) -> None:
    write_atomic(path, json.dumps(asdict(state), indent=2, sort_keys=True), 0o600)
