"""The swap's steps as they happen, for `status` and `resume` after a crash.

The journal gets a swap's steps only after its pause: every journal write waits
for the disk. A CLI killed mid-swap would then leave nothing that says where it
died. So each step's start and end also go to a file of the rollout's run
directory, one write(2) each to a file opened O_APPEND and never fsynced: inside
the pause that costs microseconds, and the kernel keeps what was written when the
process is killed (a power cut may lose it; the journal's cutover start and the
watchdog's own record remain).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

FILE = "swap-steps.jsonl"
FLIP = "flip and release"  # the step after which a swap can only go forward
TOO_BIG = 4 * 1024 * 1024  # a log this large was not written by us: not read


class StepLog:
    """One swap's lines in the rollout's step log; a context manager that writes how
    the swap ended."""

    def __init__(self, run_dir: Path, swap: str) -> None:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(run_dir / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._write({"swap": swap, "at": time.time()})

    def begin(self, step: str) -> None:
        self._write({"step": step, "at": time.time()})

    def end(self, step: str, ms: float) -> None:
        self._write({"step": step, "ms": ms})

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        ended = "done" if exc is None else f"stopped: {getattr(exc, 'message', exc)}"
        try:
            self._write({"ended": ended, "at": time.time()})
        finally:
            os.close(self._fd)

    def _write(self, line: dict) -> None:
        os.write(self._fd, (json.dumps(line) + "\n").encode())


@dataclass
class Step:
    name: str
    started_at: float
    ms: float | None = None  # None: the swap stopped (or died) inside this step


@dataclass
class SwapTrace:
    """The last swap of a rollout, as far as its step log goes."""

    swap: str  # "cutover" or "rollback"
    started_at: float
    steps: list[Step] = field(default_factory=list)
    ended: str | None = None  # "done", "stopped: ..."; None: its process died mid-swap

    @property
    def last_done(self) -> str | None:
        done = [s.name for s in self.steps if s.ms is not None]
        return done[-1] if done else None

    @property
    def died_in(self) -> str | None:
        """The step its process died in, if it died inside one."""
        if self.ended is None and self.steps and self.steps[-1].ms is None:
            return self.steps[-1].name
        return None

    @property
    def flipped(self) -> bool:
        """The LB was told to move every request: the flip step (or a canary's
        100 % step) had begun. Only the LB itself can say whether it did."""
        return any(s.name in (FLIP, "100%") for s in self.steps)

    def as_dict(self) -> dict:
        return {"swap": self.swap, "started_at": self.started_at, "ended": self.ended,
                "last_step": self.last_done, "died_in": self.died_in,
                "steps": [{"step": s.name, "at": s.started_at, "ms": s.ms} for s in self.steps]}


def last_swap(run_dir: Path) -> SwapTrace | None:
    """The rollout's last swap, or None if it never began one."""
    path = run_dir / FILE
    try:
        if path.stat().st_size > TOO_BIG:
            return None
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    trace: SwapTrace | None = None
    for raw in lines:
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # a line cut short by a kill mid-write
        if "swap" in line:
            trace = SwapTrace(line["swap"], line["at"])
        elif trace is None:
            continue
        elif "ended" in line:
            trace.ended = line["ended"]
        elif "at" in line:
            trace.steps.append(Step(line["step"], line["at"]))
        elif trace.steps and trace.steps[-1].name == line.get("step"):
            trace.steps[-1].ms = line["ms"]
    return trace
