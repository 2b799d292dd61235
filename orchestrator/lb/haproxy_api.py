"""HAProxy's runtime API (the admin socket on the LB host), kept open over SSH.

A swap's pause is a sum of LB round trips: hold, the drain's polls, flip and
release. A new `socat` per command costs a process start on the LB host, tens of
ms once the host is busy; one `socat` kept running in HAProxy's interactive mode
(`prompt`) costs a round trip, well under a millisecond on the lab's hosts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import paramiko

from orchestrator.errors import LoadBalancerError
from orchestrator.remote.ssh import Conversation, SSHShell

SOCKET = "/run/haproxy/admin.sock"
PROMPT = b"\n> "  # in interactive mode every answer ends so, an empty one too
STOPPING = "Stopping: 1"  # `show info` of a process a reload has told to finish
# Interactive mode, and this connection kept for an hour idle, not `stats timeout`.
GREETING = "prompt\nset timeout cli 3600\n"


class AdminAPI(Protocol):
    name: str  # the LB host, for messages

    def ask(self, commands: Sequence[str]) -> list[str]:
        """Run the commands in order; their answers, one each. Only `show` and
        `set map` (idempotent): a batch whose answers were lost is sent again."""
        ...

    def close(self) -> None:
        ...


class AdminSession:
    """One `socat` to the admin socket, kept running in interactive mode.

    A reload hands the listening sockets to a new process, but a connection already
    open stays with the old one, whose maps no longer route anything. So every
    batch is preceded by a `show info` round trip, and goes to a new connection if
    that reached a stopping process: a change never lands on a process on its way
    out (a hold there would outlive the release). HAProxy closes an idle CLI
    connection after `stats timeout`; the session asks for an hour instead, and
    opens a new connection if it finds the old one closed."""

    ALLOWED = ("show ", "set map ")

    def __init__(self, cli: Conversation, timeout_s: float = 10.0) -> None:
        self.name = cli.name
        self.timeout_s = timeout_s
        self._cli = cli
        self._lock = threading.Lock()  # one batch at a time on the one connection

    @classmethod
    def over_ssh(cls, ssh: SSHShell, socket: str = SOCKET) -> AdminSession:
        return cls(Conversation(ssh, f"exec socat -t 1 stdio UNIX-CONNECT:{socket}"))

    def ask(self, commands: Sequence[str]) -> list[str]:
        refused = [c for c in commands if not c.startswith(self.ALLOWED)]
        if refused:
            raise ValueError(f"not an idempotent runtime API command: {refused[0]!r}")
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._reached_live_process():
                        return self._exchange(commands)
                except TimeoutError:
                    raise LoadBalancerError(
                        f"HAProxy on {self.name} did not answer '{'; '.join(commands)}'"
                        f" within {self.timeout_s:g}s", "check the LB host's load and HAProxy"
                    ) from None
                except (EOFError, OSError, paramiko.SSHException) as exc:
                    # A connection HAProxy closed, or a reload ended: once more, anew.
                    if attempt == 2:
                        raise LoadBalancerError(
                            f"HAProxy on {self.name} did not take '{'; '.join(commands)}'"
                            f" on its admin socket: {exc}",
                            "check that HAProxy runs on the LB host and its admin socket"
                            " exists") from None
        raise LoadBalancerError(f"HAProxy on {self.name} answers only from a stopping process",
                                "check the LB host for a reload that does not finish")

    def _exchange(self, batch: Sequence[str]) -> list[str]:
        """One round trip. On any failure the connection is closed: answers left
        unread would otherwise be taken for the next batch's."""
        deadline = time.monotonic() + self.timeout_s
        try:
            opened = self._cli.send("".join(f"{line}\n" for line in batch), greeting=GREETING)
            if opened:
                for _ in GREETING.splitlines():  # the greeting's own answers
                    self._cli.read_until(PROMPT, deadline)
            answers = [self._cli.read_until(PROMPT, deadline).decode(errors="replace")
                       for _ in batch]
        except BaseException:
            self._cli.close()
            raise
        return answers

    def _reached_live_process(self) -> bool:
        """False if this connection is with a stopping process: it is closed, and the
        next exchange opens one to the process that serves."""
        info = self._exchange(["show info"])[0]
        if "Pid:" not in info:
            self._cli.close()
            raise EOFError(f"not HAProxy's answer to 'show info': {info[:80]!r}")
        if STOPPING in info:
            self._cli.close()
            return False
        return True

    def close(self) -> None:
        self._cli.close()
