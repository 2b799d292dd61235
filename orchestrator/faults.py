"""Fault points for tests. GREENSWAP_FAULT holds comma-separated faults:

- `after:<point>` SIGKILLs this process right after the named point, as a crash or
  an operator's kill -9 would: a swap step ("after:fence") or a phase boundary
  ("after:phase deploy");
- `slow:<point>=<seconds>` sleeps there, as a starved process would
  ("slow:watchdog acts=3").

Faults act in the order given.

Unset (as in any real use) it does nothing. The crash and reliability tests drive it."""

from __future__ import annotations

import os
import signal
import time

VARIABLE = "GREENSWAP_FAULT"


def point(name: str) -> None:
    for fault in filter(None, os.environ.get(VARIABLE, "").split(",")):
        kind, _, where = fault.partition(":")
        at, _, seconds = where.rpartition("=")
        if kind == "slow" and at == name:
            time.sleep(float(seconds))
        elif kind == "after" and where == name:
            os.kill(os.getpid(), signal.SIGKILL)
