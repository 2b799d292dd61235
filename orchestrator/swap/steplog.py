"""The swap's steps as they happen, for `status` and `resume` after a crash.

The journal gets a swap's steps only after its pause: every journal write waits
for the disk. A CLI killed mid-swap would then leave nothing that says where it
died. So each step's start and end also go to a file of the rollout's run
directory, one write(2) each to a file opened O_APPEND and never fsynced: inside
the pause that costs microseconds, and the kernel keeps what was written when the
process is killed (a power cut may lose it; the journal's cutover start and the
watchdog's own record remain). The log is for the operator, not for the swap: if it
cannot be opened or written (a full disk), the swap goes on without it.

Each swap's first line carries the pid of its process: while that process lives,
`status` says the swap is under way, not that it died.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import processes

FILE = "swap-steps.jsonl"
FLIP = "flip and release"  # the step after which a swap can only go forward
TOO_BIG = 4 * 1024 * 1024  # a log this large was not written by us: not read


class StepLog:
    """One swap's lines in the rollout's step log; a context manager that writes how
    the swap ended."""

    def __init__(self, run_dir: Path, swap: str) -> None:
        self._fd: int | None = None
        try:
            run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(run_dir / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return  # no log, and the swap goes on
        # A leading newline ends a line a killed swap left half-written.
        self._write({"swap": swap, "at": time.time(), "pid": os.getpid()}, lead="\n")

    def begin(self, step: str) -> None:
        self._write({"step": step, "at": time.time()})

    def end(self, step: str, ms: float, failed: bool = False) -> None:
        self._write({"step": step, "ms": ms, **({"failed": True} if failed else {})})

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        ended = "done" if exc is None else f"stopped: {getattr(exc, 'message', exc)}"
        self._write({"ended": ended, "at": time.time()})
        if self._fd is not None:
            os.close(self._fd)

    def _write(self, line: dict, lead: str = "") -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # a full disk must not stop the swap
            os.write(self._fd, (lead + json.dumps(line) + "\n").encode())


@dataclass
class Step:
    name: str
    started_at: float
    ms: float | None = None  # None: the swap stopped (or died) inside this step
    failed: bool = False  # the step raised

    @property
    def done(self) -> bool:
        return self.ms is not None and not self.failed


@dataclass
class SwapTrace:
    """The last swap of a rollout, as far as its step log goes."""

    swap: str  # "cutover" or "rollback"
    started_at: float
    pid: int | None  # of the process that ran it
    steps: list[Step] = field(default_factory=list)
    ended: str | None = None  # "done", "stopped: ..."; None: under way, or died
    running: bool = False  # its process is alive: the swap is under way

    @property
    def last_done(self) -> str | None:
        done = [s.name for s in self.steps if s.done]
        return done[-1] if done else None

    @property
    def died(self) -> bool:
        return self.ended is None and not self.running

    @property
    def died_in(self) -> str | None:
        """The step its process died in, if it died inside one."""
        if self.died and self.steps and self.steps[-1].ms is None:
            return self.steps[-1].name
        return None

    @property
    def flip_done(self) -> bool:
        return any(s.name == FLIP and s.done for s in self.steps)

    @property
    def flip_begun(self) -> bool:
        """The LB was told to move every request; only the LB can say if it did."""
        return any(s.name == FLIP for s in self.steps)

    def as_dict(self) -> dict:
        return {"swap": self.swap, "started_at": self.started_at, "pid": self.pid,
                "running": self.running, "ended": self.ended, "last_step": self.last_done,
                "died_in": self.died_in,
                "steps": [{"step": s.name, "at": s.started_at, "ms": s.ms, "failed": s.failed}
                          for s in self.steps]}


def last_swap(run_dir: Path) -> SwapTrace | None:
    """The rollout's last swap, or None if it never began one. Lines that are not
    what StepLog writes (cut short by a kill, or edited by hand) are skipped."""
    path = run_dir / FILE
    try:
        if path.stat().st_size > TOO_BIG:
            return None
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    trace: SwapTrace | None = None
    for raw in lines:
        line = _line(raw)
        if line is None:
            continue
        if isinstance(line.get("swap"), str) and _number(line.get("at")):
            pid = line.get("pid")
            trace = SwapTrace(line["swap"], line["at"], pid if isinstance(pid, int) else None)
        elif trace is None or not isinstance(line.get("step", line.get("ended")), str):
            continue
        elif "ended" in line:
            trace.ended = line["ended"]
        elif _number(line.get("at")):
            trace.steps.append(Step(line["step"], line["at"]))
        elif _number(line.get("ms")) and trace.steps and trace.steps[-1].name == line["step"]:
            trace.steps[-1].ms = line["ms"]
            trace.steps[-1].failed = line.get("failed") is True
    if trace is not None and trace.ended is None and trace.pid is not None:
        trace.running = trace.pid != os.getpid() and processes.alive(trace.pid)
    return trace


def _line(raw: str) -> dict | None:
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
