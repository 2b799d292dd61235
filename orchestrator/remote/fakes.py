"""A Shell in memory, for unit tests: it answers from a script."""

from __future__ import annotations

from orchestrator.remote.base import CommandResult


class FakeShell:
    """A Shell that answers from a script: {command prefix: CommandResult}. Records calls."""

    def __init__(self, answers: dict[str, CommandResult], name: str = "fake") -> None:
        self.name = name
        self.answers = answers
        self.calls: list[tuple[str, str | None]] = []

    def run(self, command: str, timeout: float = 60.0, stdin: str | None = None) -> CommandResult:
        self.calls.append((command, stdin))
        for prefix, result in self.answers.items():
            if command.startswith(prefix):
                return result
        return CommandResult(127, "", f"fake shell: no answer for {command!r}")

    def close(self) -> None:
        self.calls.append(("close", None))
