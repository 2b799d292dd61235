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

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import psycopg2

from orchestrator import faults, processes
from orchestrator.errors import GreenswapError
from orchestrator.fsutil import write_atomic
from orchestrator.lb.base import holding

if TYPE_CHECKING:
    from orchestrator.runbook.context import Context
    from orchestrator.swap.cutover import Swap

GRACE_S = 0.5  # past the pause bound; the LB lets held requests go 0.5 s after that
LIFETIME_S = 3600  # a watchdog nobody stopped ends on its own
SETTLE_S = 30.0  # past its bound, what a pending watchdog may take to act
PID_FILE = "watchdog.json"


class Watchdog:
    def __init__(self, pid: int, token: str, pid_file) -> None:
        self.pid, self.token, self.pid_file = pid, token, pid_file

    @classmethod
    def start(cls, ctx: Context, plan: Swap) -> Watchdog:
        old, new = ctx.facts[plan.old], ctx.facts[plan.new]
        token = f"watchdog-{ctx.cfg.environment}-{ctx.rollout_id}"
        at = time.time() + ctx.cfg.cutover.max_pause_ms / 1000 + GRACE_S
        ctx.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(ctx.run_dir / "watchdog.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__,
                 "--config", str(ctx.cfg.path), "--rollout", str(ctx.rollout_id),
                 "--old", old, "--new", new, "--token", token, "--at", f"{at:.3f}",
                 "--cli-pid", str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        dog = cls(proc.pid, token, ctx.run_dir / PID_FILE)
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


def guard(ctx: Context, old: str, new: str, at: float, cli_pid: int) -> str:
    """The watchdog's work. Connects to the database first (so that acting costs no
    time; the LB's connection opens at its first call), waits for the bound and for
    the CLI to die, then acts. Returns what it did."""
    from orchestrator.db.fence import Fence

    lb = holding(ctx.fleet.lb())
    fence = Fence(ctx.fleet.dsn(old))
    ends = time.time() + LIFETIME_S
    while time.time() < at or processes.alive(cli_pid):
        if time.time() > ends:
            return "the CLI outlived the watchdog's lifetime; nothing done"
        time.sleep(0.05)
    faults.point("watchdog acts")  # tests: a watchdog that acts late
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


def main(argv: list[str] | None = None) -> int:
    """The watchdog process (`python -m orchestrator.swap.watchdog`, as Watchdog.start
    runs it); what it did, or why it could not, goes to its log."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.swap.watchdog")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--rollout", type=int, required=True)
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--token", required=True)  # marks the process as this swap's
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--cli-pid", type=int, required=True)
    args = parser.parse_args(argv)
    # Imported here: the runbook imports this module to arm the watchdog.
    from orchestrator.config import load
    from orchestrator.db.connect import first_line
    from orchestrator.runbook.context import open_context
    from orchestrator.runbook.lease import open_journal

    try:
        cfg = load(args.config)
        ctx = open_context(cfg, open_journal(cfg), args.rollout, say=print)
        print(guard(ctx, args.old, args.new, args.at, args.cli_pid), flush=True)
    except GreenswapError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr, flush=True)
        return exc.exit_code
    except psycopg2.Error as exc:  # as the CLI says it: one line, never a traceback
        print(f"error: PostgreSQL: {first_line(exc)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
