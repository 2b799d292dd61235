"""Hooks: the operator's executables, run at named moments with the rollout's facts
in GREENSWAP_* environment variables. No shell, a deadline, and output kept short."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.errors import HookFailed
from orchestrator.secrets import environment_without

HOOK_TIMEOUT_S = 120


def run_hooks(paths: tuple[Path, ...], moment: str, facts: dict[str, object],
              hide: tuple[str, ...] = ()) -> list[str]:
    """Run each hook in order; raise HookFailed on the first that fails. Returns the
    last line each printed, for the journal. Variables in `hide` (secrets) are not
    passed on."""
    env = environment_without(hide)
    env["GREENSWAP_MOMENT"] = moment
    env.update({f"GREENSWAP_{k.upper()}": str(v) for k, v in facts.items()
                if isinstance(v, (str, int, float))})
    said = []
    for path in paths:
        try:
            done = subprocess.run([str(path)], env=env, capture_output=True, text=True,
                                  timeout=HOOK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise HookFailed(f"{moment} hook {path} did not finish within "
                             f"{HOOK_TIMEOUT_S}s") from None
        except OSError as exc:
            raise HookFailed(f"{moment} hook {path} could not run: {exc.strerror}") from None
        last = (done.stdout.strip().splitlines() or [""])[-1][:200]
        if done.returncode != 0:
            err = (done.stderr.strip().splitlines() or [last])[-1][:200]
            raise HookFailed(f"{moment} hook {path} exited {done.returncode}: {err}")
        said.append(f"{path.name}: {last}" if last else path.name)
    return said
