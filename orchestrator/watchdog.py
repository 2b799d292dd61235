"""A dead man's switch for the swap: a process of its own, started before the hold
and stopped after the release. If the CLI dies in between (SIGKILL, a lost SSH
session), the watchdog wakes at the deadline and, if the old colour is still the
live one, unfences it and releases the hold: blue serves again, never left fenced.
If the flip did happen, it only makes sure the hold is released.
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

GRACE_S = 0.5  # after the deadline: the CLI never flips past it, so no race on the LB


class Watchdog:
    def __init__(self, pid: int, token: str) -> None:
        self.pid, self.token = pid, token

    @classmethod
    def start(cls, ctx: Context, plan: Swap, deadline_s: float) -> Watchdog:
        """`deadline_s`: the longest the swap may hold requests."""
        old, new = ctx.facts[plan.old], ctx.facts[plan.new]
        token = f"watchdog-{ctx.cfg.environment}-{ctx.rollout_id}"
        ctx.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(ctx.run_dir / "watchdog.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "watchdog",
                 "--config", str(ctx.cfg.path), "--rollout", str(ctx.rollout_id),
                 "--old", old, "--new", new, "--token", token,
                 "--at", f"{time.time() + deadline_s + GRACE_S:.3f}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={**os.environ},
            )
        return cls(proc.pid, token)

    def stop(self) -> None:
        procs.stop_pid(self.pid, self.token, deadline_s=5)


def guard(ctx: Context, old: str, new: str, at: float) -> str:
    """The watchdog's work, once the deadline has passed. Returns what it did."""
    from orchestrator.db import fence

    time.sleep(max(0.0, at - time.time()))
    lb = ctx.fleet.lb()
    if lb.live_color() == new:
        lb.release()
        did = f"the flip to {new} had happened; hold released"
    else:
        fence.unfence(ctx.fleet.dsn(old))
        lb.release()
        did = f"the swap did not finish by its deadline: {old} unfenced and serving"
    ctx.record("cutover", "watchdog", did)
    return did
