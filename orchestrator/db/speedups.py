"""The C helper for the replayer's per-value loops (_speedups.c), or None.

None when it was not built (no C compiler where the wheel was built: it is
optional), or when GREENSWAP_NO_SPEEDUPS=1 asks for the pure-Python code, which
gives the same answers (tests/unit/test_speedups.py) and which the benchmarks
time against it.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("GREENSWAP_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        from orchestrator.db import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups


C = _load()
