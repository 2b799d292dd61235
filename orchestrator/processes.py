"""Processes the lab started: recognised by PID and command line, never by name alone.

The lab only ends processes whose PID it recorded and whose command line still
carries the token it was started with, so a recycled PID is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.retry import poll_until


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def find(token: str, programs: tuple[str, ...] | None = None) -> list[int]:
    """PIDs of live processes whose command line contains `token` and, if given,
    whose program (argv[0]'s base name) is one of `programs`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        args = cmdline(pid) or [""]
        if programs is not None and os.path.basename(args[0]) not in programs:
            continue
        if is_ours(pid, token):
            found.append(pid)
    return found


def children(pid: int) -> list[int]:
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in raw.split()]


def wait_gone(pids: list[int], deadline_s: float = 10.0) -> bool:
    return poll_until(lambda: any(alive(p) for p in pids), lambda busy: not busy,
                      deadline_s, 0.01).done


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z")


def is_ours(pid: int, token: str) -> bool:
    args = cmdline(pid)
    return bool(args) and alive(pid) and any(token in a for a in args or ())


def stop_pid(pid: int, token: str, sig: int = signal.SIGTERM, deadline_s: float = 10.0) -> bool:
    """Signal a process of ours and wait until it is gone. False if it was not ours."""
    if not is_ours(pid, token):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    def gone() -> bool:
        _reap(pid)
        return not alive(pid)

    if poll_until(gone, bool, deadline_s, 0.02).done:
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _reap(pid: int) -> None:
    # The process is our child only when this same Python started it (tests do).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_for_port(
    address: str, port: int, deadline_s: float, alive: Callable[[], bool] = lambda: True
) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if not alive():
            return False
        try:
            socket.create_connection((address, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False
