"""A green app host cut off from the network by nft inside its own namespace (every
packet in and out dropped, as a dead switch port or a bad firewall push would).

During bake: the bake's checks fail, the rollout rolls back on its own, and no
acknowledged write is lost. During patch: Ansible gives up on the host within its
bounded timeouts, the rollout stops, green is destroyed and blue never noticed."""

from __future__ import annotations

import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.lab_rollout import assert_clean, lb_url, live_version, under_load, write_config

pytestmark = pytest.mark.lab

CUT = """table inet greenswap_test_cut {
  chain input { type filter hook input priority -100; policy drop; iif "lo" accept; }
  chain output { type filter hook output priority -100; policy drop; oif "lo" accept; }
}
"""


@contextmanager
def cut_off(env, host: str):
    netns = env.lab.settings.netns(host)
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=CUT, text=True,
                   check=True, timeout=10)
    try:
        yield
    finally:  # the host may be gone already (green destroyed): that is fine
        subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet",
                        "greenswap_test_cut"], capture_output=True, timeout=10)


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_green_host_cut_off_during_bake_rolls_back_on_its_own(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": 60, "failures": 2})
    journal = Journal(cfg.state_dir)
    lb = env.lb()

    def cut_after_cutover() -> None:
        wait_for(lambda: lb.live_color() == "green", 600)
        time.sleep(2)  # the bake has begun, under traffic
        with cut_off(env, "green-app-1"):
            wait_for(lambda: journal.latest(cfg.environment).state != "running", 120)

    cutter = threading.Thread(target=cut_after_cutover, daemon=True)
    cutter.start()
    outcome, result, load = under_load(env, lambda: rollout.rollout(cfg, print), rate=30)
    cutter.join(timeout=150)

    assert isinstance(outcome, rollout.PhaseFailed) and outcome.phase == "bake", outcome
    assert "green-app-1" in outcome.message or "rolled back" in outcome.message
    assert journal.latest(cfg.environment).state == "rolled-back"
    assert live_version(env) == "1.0"
    assert load.lost() == [] and result.stale_reads == 0  # every acknowledged write kept
    # Requests already sent to the cut host before HAProxy's checks took it out
    # (2 x 1 s) may fail: the LB can retry a connection, not a request it lost.
    print(f"requests {result.requests}, failed {result.failures}")


def test_a_green_host_cut_off_during_patch_stops_the_rollout_and_green_goes(secrets,
                                                                              tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab)
    done = threading.Event()

    journal = Journal(cfg.state_dir)

    def provisioned() -> bool:
        latest = journal.latest(cfg.environment)
        return latest is not None and "provision" in journal.done_phases(latest.id)

    def cut_once_provisioned() -> None:
        wait_for(provisioned, 300)  # patch starts now
        with cut_off(env, "green-app-1"):
            done.wait(300)

    cutter = threading.Thread(target=cut_once_provisioned, daemon=True)
    cutter.start()
    try:
        outcome, result, load = under_load(env, lambda: rollout.rollout(cfg, print), rate=30)
    finally:
        done.set()
        cutter.join(timeout=30)

    assert isinstance(outcome, rollout.PhaseFailed), outcome
    assert outcome.phase in ("patch", "deploy") and "green-app-1" in outcome.message
    assert journal.latest(cfg.environment).state == "failed"
    assert [r.name for r in env.lab.records() if r.color == "green"] == []
    assert_clean(result, load)  # blue served every request throughout
    assert env.get_json(lb_url(env) + "/health")["version"] == "1.0"
