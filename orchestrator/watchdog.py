"""A dead man's switch for the swap: a process of its own, armed just before the
hold and stopped after the release. It acts only if the CLI that armed it has
died (SIGKILL, a lost session) and the pause bound has passed: if the old colour
is still the live one, it unfences it and releases the hold, so blue serves again
and is never left fenced; if the flip did happen, it releases the hold. While the
CLI lives, the swap is the CLI's own business, with its own bounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from orchestrator.lab import procs

if TYPE_CHECKING:
    from orchestrator.context import Context
    from orchestrator.cutover import Swap

GRACE_S = 0.5  # past the pause bound; the LB lets held requests go 0.5 s after that
LIFETIME_S = 3600  # a watchdog nobody stopped ends on its own


class Watchdog:
    def __init__(self, pid: int, token: str) -> None:
        self.pid, self.token = pid, token

    @classmethod
    def start(cls, ctx: Context, plan: Swap) -> Watchdog:
        old, new = ctx.facts[plan.old], ctx.facts[plan.new]
        token = f"watchdog-{ctx.cfg.environment}-{ctx.rollout_id}"
        at = time.time() + ctx.cfg.cutover.max_pause_ms / 1000 + GRACE_S
        ctx.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(ctx.run_dir / "watchdog.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "watchdog",
                 "--config", str(ctx.cfg.path), "--rollout", str(ctx.rollout_id),
                 "--old", old, "--new", new, "--token", token, "--at", f"{at:.3f}",
                 "--cli-pid", str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        return cls(proc.pid, token)

    def stop(self) -> None:
        procs.stop_pid(self.pid, self.token, deadline_s=5)


def guard(ctx: Context, old: str, new: str, at: float, cli_pid: int) -> str:
    """The watchdog's work. Connects first (so that acting costs no time), waits for
    the bound and for the CLI to die, then acts. Returns what it did."""
    from orchestrator.db.fence import Fence

    lb = ctx.fleet.lb()
    fence = Fence(ctx.fleet.dsn(old))
    ends = time.time() + LIFETIME_S
    while time.time() < at or procs.alive(cli_pid):
        if time.time() > ends:
            return "the CLI outlived the watchdog's lifetime; nothing done"
        time.sleep(0.05)
    try:
        if lb.live_color() == new:
            did = f"the flip to {new} had happened; hold released"
        else:
            fence.unfence()
            did = f"the swap's CLI died mid-swap: {old} unfenced and serving"
    finally:
        lb.release()  # whatever else failed: held requests must go
    ctx.record("cutover", "watchdog", did)
    return did
