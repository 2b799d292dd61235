"""One writer, through a cutover, a rollback and a second cutover, each swap's CLI
killed with SIGKILL in the middle (at a different step each time) and finished by
running the command again. The watchdog each killed swap leaves acts late, as a
starved one would, when the command run again has already started: that command
must let it act first. Lost acknowledged writes: 0; stale reads: 0.

Slow (several whole rollouts): `make test-slow`, which .ci/run runs too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import pytest

from orchestrator.runbook.journal import Journal
from tests.lab_rollout import live_version, under_load, write_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]


# A starved watchdog: it acts this late, when the command run again has started.
LATE_WATCHDOG = "slow:watchdog acts=5"


def run(cfg, *args: str, fault: str | None = None, timeout_s: float = 900) -> int:
    """The CLI as an operator runs it; with `fault`, it SIGKILLs itself after that step
    (and the watchdog it armed acts late)."""
    env = {k: v for k, v in os.environ.items() if k != "GREENSWAP_FAULT"}
    if fault:
        env["GREENSWAP_FAULT"] = f"after:{fault},{LATE_WATCHDOG}"
    with tempfile.TemporaryFile("w+") as log:  # not a pipe: nobody reads it meanwhile
        proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", *args, "-c",
                               str(cfg.path)], env=env, stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log, timeout=timeout_s)
        log.seek(0)
        tail = log.read()[-1500:]
    if fault:
        assert proc.returncode == -signal.SIGKILL, tail  # it did die at that step
    return proc.returncode if not fault else 0


def test_cutover_rollback_and_cutover_again_each_killed_mid_swap_lose_nothing(
        secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": 2},
                       retire={"keep_blue_s": 3600})
    journal = Journal(cfg.state_dir)

    def swaps() -> list[str]:
        states = []
        # 1. Cutover, killed with requests held and blue drained; then resumed.
        run(cfg, "rollout", "--yes", fault="drain in-flight")
        assert run(cfg, "resume") == 0
        states.append(journal.latest(cfg.environment).state)
        # 2. Rollback by hand, killed after green was fenced; then asked again.
        run(cfg, "rollback", "--yes", fault="fence")
        assert run(cfg, "rollback", "--yes") == 0
        states.append(journal.latest(cfg.environment).state)
        # 3. A second cutover, killed right after the flip (past the point of no
        #    return); resume finishes its tail.
        run(cfg, "rollout", "--yes", fault="flip and release")
        assert run(cfg, "resume") == 0
        states.append(journal.latest(cfg.environment).state)
        # Back to blue for the tests after this one (and once more through a swap).
        assert run(cfg, "rollback", "--yes") == 0
        states.append(journal.latest(cfg.environment).state)
        return states

    states, result, load = under_load(env, swaps, rate=40)
    assert not isinstance(states, Exception), states
    assert states == ["baked", "rolled-back", "baked", "rolled-back"]
    assert result.requests > 200 and result.stale_reads == 0, result.errors[:5]
    assert load.lost() == []  # every acknowledged write, on blue at the end
    assert live_version(env) == "1.0"
    print(f"requests {result.requests}, failed {result.failures}: {result.errors[:3]}")
    # The late watchdog outlasts the LB's own hold bound: HAProxy lets the held
    # requests go to the old colour, still fenced, which refuses their writes (fail
    # closed) until the watchdog unfences it. Nothing else may fail.
    assert all("ReadOnlySqlTransaction" in e for e in result.errors), result.errors
    # Each command run after a kill let the late watchdog act first, then swapped:
    # acting in the middle of that swap, it would unfence what was just fenced.
    said = [(e.phase, e.message) for n in range(1, journal.latest(cfg.environment).id + 1)
            for e in journal.events(n) if e.kind == "watchdog"]
    assert [phase for phase, _m in said] == ["cutover", None] * 3, said
    assert all("waited for the watchdog" in m for phase, m in said if phase is None), said


@pytest.mark.parametrize("boundary", ["provision", "patch", "deploy", "schema", "verify"])
def test_a_crash_at_a_phase_boundary_is_resumed_and_loses_nothing(secrets, tmp_path,
                                                                   boundary):
    env = secrets
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": 1},
                       retire={"keep_blue_s": 3600})
    journal = Journal(cfg.state_dir)

    def crash_then_resume() -> str:
        run(cfg, "rollout", "--yes", fault=f"phase {boundary}")
        latest = journal.latest(cfg.environment)
        assert latest.state == "running" and boundary in journal.done_phases(latest.id)
        assert run(cfg, "resume") == 0  # converges: what is done is skipped
        state = journal.latest(cfg.environment).state
        assert live_version(env) == "2.0"  # verify passed: green == f(blue), then cut over
        assert run(cfg, "rollback", "--yes") == 0  # v1 back for what comes next
        return state

    state, result, load = under_load(env, crash_then_resume, rate=30)
    assert state == "baked", state
    events = journal.events(journal.latest(cfg.environment).id)
    assert sum(e.kind == "start" and e.phase == boundary for e in events) == 1  # not redone
    assert (result.failures, result.stale_reads) == (0, 0), result.errors[:5]
    assert load.lost() == []
