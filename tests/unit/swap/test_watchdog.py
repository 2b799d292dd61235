"""settle(): a command that resumes a rollout first lets the watchdog of an
interrupted swap act and go, so that it never acts in the middle of the new swap.
Real processes stand in for the watchdog (recognised by PID and token)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import faults, processes
from orchestrator.swap import watchdog


def pending(run_dir, seconds: float, at: float) -> subprocess.Popen:
    token = "watchdog-unit-1"
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})",
                             token])
    # /proc shows the new command line only once the exec is through
    until = time.monotonic() + 5
    while not processes.is_ours(proc.pid, token) and time.monotonic() < until:
        time.sleep(0.01)
    (run_dir / watchdog.PID_FILE).write_text(
        json.dumps({"pid": proc.pid, "token": token, "at": at}))
    return proc


def test_a_pending_watchdog_is_waited_for_until_it_has_gone(tmp_path):
    proc = pending(tmp_path, 1.0, time.time() + 0.2)
    said: list[str] = []
    watchdog.settle(tmp_path, said.append)
    assert proc.wait(timeout=0.5) == 0  # it had ended, on its own: not stopped
    assert said and "waited for the watchdog" in said[0]
    assert not (tmp_path / watchdog.PID_FILE).exists()


def test_a_watchdog_that_does_not_act_past_its_bound_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(watchdog, "SETTLE_S", 0.3)
    proc = pending(tmp_path, 60, time.time())
    said: list[str] = []
    watchdog.settle(tmp_path, said.append)
    assert not processes.alive(proc.pid)  # stopped by its PID (and reaped by settle)
    assert said and "had not acted" in said[0]


def test_a_gone_or_recycled_watchdog_is_not_waited_for_nor_touched(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:  # the recorded PID now belongs to a process without the token
        (tmp_path / watchdog.PID_FILE).write_text(
            json.dumps({"pid": other.pid, "token": "watchdog-unit-1", "at": time.time()}))
        said: list[str] = []
        watchdog.settle(tmp_path, said.append)
        assert said == [] and other.poll() is None
        assert not (tmp_path / watchdog.PID_FILE).exists()
        watchdog.settle(tmp_path, said.append)  # no file at all: nothing to do
        assert said == []
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("value, slept", [("slow:watchdog acts=0.2", True),
                                          ("after:fence,slow:watchdog acts=0.2", True),
                                          ("slow:fence=0.2", False), ("", False)])
def test_a_slow_fault_point_sleeps_only_at_its_point(monkeypatch, value, slept):
    monkeypatch.setenv(faults.VARIABLE, value)
    began = time.monotonic()
    faults.point("watchdog acts")
    assert (time.monotonic() - began >= 0.2) == slept


def test_abort_after_a_watchdog_stopped_before_acting_puts_blue_back(tmp_path):
    """settle() may stop a watchdog before it unfenced blue and released the hold:
    abort (no cutover happened) then does it, so blue serves and takes writes."""
    from types import SimpleNamespace

    from orchestrator import config
    from orchestrator.db.fakes import FakeSync
    from orchestrator.lb.fakes import FakeLoadBalancer
    from orchestrator.runbook.rollout import _put_blue_back
    from orchestrator.swap.database import DatabaseSwap
    from orchestrator.swap.fakes import fake_parts

    lb, sync = FakeLoadBalancer(), FakeSync()
    lb.hold()
    sync.fenced = {"blue"}
    cfg = config.load(Path(__file__).resolve().parents[3] / "examples" / "sample-app"
                      / "rollout.yml")
    ctx = SimpleNamespace(swapper=DatabaseSwap(fake_parts(cfg, lb, sync, tmp_path)),
                          facts={"blue": "blue", "green": "green"})
    _put_blue_back(ctx)
    assert sync.fenced == set() and lb.held is False
