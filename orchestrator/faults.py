"""Fault points for tests: GREENSWAP_FAULT=after:<point> SIGKILLs this process right
after the named point, as a crash or an operator's kill -9 would: a swap step
("after:fence") or a phase boundary ("after:phase deploy"). Unset (as in any real
use) it does nothing. The crash and reliability tests drive it."""

from __future__ import annotations

import os
import signal

VARIABLE = "GREENSWAP_FAULT"


def point(name: str) -> None:
    if os.environ.get(VARIABLE) == f"after:{name}":
        os.kill(os.getpid(), signal.SIGKILL)
