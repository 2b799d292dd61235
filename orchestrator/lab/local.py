"""Running commands on the lab's own machine, with deadlines and one-line errors."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from orchestrator.errors import LabError


def run(
    args: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 60,
    cwd: str | None = None,
    error: type[LabError] = LabError,
) -> subprocess.CompletedProcess[str]:
    cmd = shlex.join(args)
    try:
        proc = subprocess.run(
            list(args), input=input, capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
    except FileNotFoundError:
        raise error(
            f"{args[0]} is not installed", "run 'make bootstrap' to install the lab's packages"
        ) from None
    except subprocess.TimeoutExpired:
        raise error(f"'{cmd}' did not finish within {timeout:g}s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise error(f"'{cmd}' failed (exit {proc.returncode}): {detail[-1] if detail else ''}")
    return proc
