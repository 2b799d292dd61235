"""A dead man's switch for the swap: a process of its own, armed just before the
hold and stopped after the release. It acts only if the CLI that armed it has
died (SIGKILL, a lost session) and the pause bound has passed: if the old colour
is still the live one, it unfences it and releases the hold, so blue serves again
and is never left fenced; if the flip did happen, it releases the hold. While the
CLI lives, the swap is the CLI's own business, with its own bounds.

A watchdog whose CLI died may act late (its start-up is slow on a busy machine),
when the operator's next command is already mid-swap: it would unfence what that
swap just fenced, or release its hold. So every command that resumes a rollout
first settles any watchdog still pending for it (`settle`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from orchestrator import faults, processes
from orchestrator.db.fence import Fence
from orchestrator.fsutil import write_atomic
from orchestrator.lb.base import LoadBalancer, holding

GRACE_S = 0.5  # past the pause bound; the LB lets held requests go 0.5 s after that
LIFETIME_S = 3600  # a watchdog nobody stopped ends on its own
SETTLE_S = 30.0  # past its bound, what a pending watchdog may take to act
PID_FILE = "watchdog.json"


@dataclass(frozen=True)
class Arming:
    """What a watchdog is told of the swap it guards."""

    config_path: Path  # the rollout's config: the process builds the LB and fence from it
    environment: str
    rollout_id: int
    run_dir: Path
    old: str  # the colour labels: serving now, and to serve after the flip
    new: str
    max_pause_ms: int


# The watchdog's process: on the top floor, it may build what it needs from the
# config (orchestrator/cli/watchdog.py); this module never reaches up for it.
ENTRY = "orchestrator.cli.watchdog"


class Watchdog:
    def __init__(self, pid: int, token: str, pid_file) -> None:
        self.pid, self.token, self.pid_file = pid, token, pid_file

    @classmethod
    def start(cls, arming: Arming) -> Watchdog:
        a = arming
        token = f"watchdog-{a.environment}-{a.rollout_id}"
        at = time.time() + a.max_pause_ms / 1000 + GRACE_S
        a.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(a.run_dir / "watchdog.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", ENTRY,
                 "--config", str(a.config_path), "--rollout", str(a.rollout_id),
                 "--old", a.old, "--new", a.new, "--token", token, "--at", f"{at:.3f}",
                 "--cli-pid", str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        dog = cls(proc.pid, token, a.run_dir / PID_FILE)
        try:
            write_atomic(dog.pid_file, json.dumps({"pid": proc.pid, "token": token, "at": at}),
                         mode=0o600)
        except BaseException:  # a watchdog nobody could find again must not stay
            dog.stop()
            raise
        return dog

    def stop(self) -> None:
        processes.stop_pid(self.pid, self.token, deadline_s=5)
        self.pid_file.unlink(missing_ok=True)


class Armed(NamedTuple):
    """A watchdog as its pid file names it."""

    pid: int
    token: str  # on its command line: marks the process as this swap's
    at: float  # when it may act


def pending(run_dir: Path) -> Armed | None:
    """The watchdog of this rollout that is still running: armed by a swap in
    progress, or left by one whose CLI died and not acted yet."""
    try:
        left = json.loads((run_dir / PID_FILE).read_text())
        armed = Armed(int(left["pid"]), str(left["token"]), float(left["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return armed if processes.is_ours(armed.pid, armed.token) else None


def settle(run_dir, record) -> None:
    """Wait for a watchdog left by a swap whose CLI died, until it has acted and
    gone; one that has not within SETTLE_S past its bound is stopped. Called
    before a command touches the LB or a fence. `record(message)` journals it."""
    armed = pending(run_dir)
    if armed is not None:
        wait_s = max(0.0, armed.at - time.time()) + SETTLE_S
        if processes.wait_gone([armed.pid], wait_s):
            record(f"waited for the watchdog of the interrupted swap (pid {armed.pid}) to act")
        else:
            processes.stop_pid(armed.pid, armed.token, deadline_s=5)
            record(f"the watchdog of the interrupted swap (pid {armed.pid}) had not acted "
                   f"after {wait_s:.0f} s; stopped")
    (run_dir / PID_FILE).unlink(missing_ok=True)


def guard(lb: LoadBalancer, old_dsn: str, old: str, new: str, at: float, cli_pid: int,
          record: Callable[[str], None]) -> str:
    """The watchdog's work. Connects to the old colour's database first (so that
    acting costs no time; the LB's connection opens at its first call), waits for the
    bound and for the CLI to die, then acts. Returns what it did, also `record`ed."""
    held = holding(lb)
    fence = Fence(old_dsn)
    ends = time.time() + LIFETIME_S
    while time.time() < at or processes.alive(cli_pid):
        if time.time() > ends:
            return "the CLI outlived the watchdog's lifetime; nothing done"
        time.sleep(0.05)
    faults.point("watchdog acts")  # tests: a watchdog that acts late
    try:
        if held.live_color() == new:
            did = f"the flip to {new} had happened; hold released"
        else:
            fence.unfence()
            did = f"the swap's CLI died mid-swap: {old} unfenced and serving"
    finally:
        held.release()  # whatever else failed: held requests must go
    record(did)
    return did
