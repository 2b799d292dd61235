"""The Shell Protocol: run one command on one host, get a result back as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Shell(Protocol):
    name: str

    def run(self, command: str, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        """Run `command` through the host's /bin/sh; a non-zero exit is data, not an error."""
        ...

    def close(self) -> None:
        """Let go of the connection (the next run opens one again)."""
        ...
