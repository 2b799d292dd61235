"""HAProxy's runtime API (the admin socket on the LB host), kept open over SSH.

A swap's pause is a sum of LB round trips: hold, the drain's polls, flip and
release. A new `socat` per command costs a process start on the LB host, tens of
ms once the host is busy; one `socat` kept running in HAProxy's interactive mode
(`prompt`) costs a round trip, well under a millisecond on the lab's hosts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import paramiko

from orchestrator.errors import LoadBalancerError
from orchestrator.remote.ssh import Conversation, SSHShell

SOCKET = "/run/haproxy/admin.sock"
PROMPT = b"\n> "  # in interactive mode every answer ends so, an empty one too
STOPPING = "Stopping: 1"  # `show info` of a process a reload has told to finish


class AdminAPI(Protocol):
    name: str  # the LB host, for messages

    def ask(self, commands: Sequence[str]) -> list[str]:
        """Run the commands in order; their answers, one each. Only idempotent
        commands (show, set): a batch whose answers were lost is sent again."""
        ...

    def close(self) -> None:
        ...


class AdminSession:
    """One `socat` to the admin socket, kept running in interactive mode.

    A reload hands the listening sockets to a new process, but a connection already
    open stays with the old one, whose maps no longer route anything. So every
    batch also asks `show info`, and a batch that reached a stopping process is
    sent again on a new connection."""

    def __init__(self, cli: Conversation, timeout_s: float = 10.0) -> None:
        self.name = cli.name
        self.timeout_s = timeout_s
        self._cli = cli

    @classmethod
    def over_ssh(cls, ssh: SSHShell, socket: str = SOCKET) -> AdminSession:
        return cls(Conversation(ssh, f"exec socat -t 1 stdio UNIX-CONNECT:{socket}"))

    def ask(self, commands: Sequence[str]) -> list[str]:
        batch = ["show info", *commands]
        for attempt in (1, 2):
            try:
                info, *answers = self._exchange(batch)
            except TimeoutError:
                raise LoadBalancerError(
                    f"HAProxy on {self.name} did not answer '{'; '.join(commands)}'"
                    f" within {self.timeout_s:g}s", "check the LB host's load and HAProxy"
                ) from None
            except (EOFError, OSError, paramiko.SSHException) as exc:
                # A connection HAProxy timed out or a reload ended: once more, anew.
                self._cli.close()
                if attempt == 2:
                    raise LoadBalancerError(
                        f"HAProxy on {self.name} did not take '{'; '.join(commands)}': {exc}",
                        "check that HAProxy runs on the LB host and its admin socket exists",
                    ) from None
                continue
            if STOPPING not in info:
                return answers
            self._cli.close()
        raise LoadBalancerError(f"HAProxy on {self.name} answers only from a stopping process",
                                "check the LB host for a reload that does not finish")

    def _exchange(self, batch: list[str]) -> list[str]:
        deadline = time.monotonic() + self.timeout_s
        opened = self._cli.send("".join(f"{line}\n" for line in batch), greeting="prompt\n")
        if opened:
            self._cli.read_until(PROMPT, deadline)  # the greeting's own empty answer
        return [self._cli.read_until(PROMPT, deadline).decode(errors="replace")
                for _ in batch]

    def close(self) -> None:
        self._cli.close()


class FakeAdminAPI:
    """Answers from a script, {command prefix: answer}; records every command."""

    def __init__(self, answers: dict[str, str], name: str = "lb-1") -> None:
        self.name = name
        self.answers = answers
        self.commands: list[str] = []
        self.down = False  # True: HAProxy is gone

    def ask(self, commands: Sequence[str]) -> list[str]:
        if self.down:
            raise LoadBalancerError(f"HAProxy on {self.name} did not take"
                                    f" '{'; '.join(commands)}': no admin socket")
        self.commands.extend(commands)
        return [next((a for p, a in self.answers.items() if c.startswith(p)), "")
                for c in commands]

    def close(self) -> None:
        pass
