"""The LB dies during the hold: HAProxy is SIGKILLed while it holds requests, with
blue already fenced.

The pause's deadline passes, the swap aborts: blue unfenced, the forward stream
running again, the state failed-cutover and the cause in the journal. HAProxy, started again,
reads blue and "hold off" from its map files (the hold is never written to disk),
so blue serves; `resume` then cuts over. The requests HAProxy held die with it
(the client sees the connection go): that is the LB's outage, and none of them
was a write, so nothing acknowledged is lost and no read is stale.

Slow (a whole rollout and a resume): `make test-slow`, which .ci/run runs too."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.db import fence
from orchestrator.faults import VARIABLE
from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.lab_rollout import admin_dsn, live_version, under_load, write_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FLAGS = ("echo 'show map /etc/haproxy/greenswap-flags.map'"
         " | socat -t 2 stdio UNIX-CONNECT:/run/haproxy/admin.sock")
KILL = "kill -9 $(cat /run/haproxy.pid)"
START = "haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid"
CONNECTION_GONE = ("ConnectionRefusedError", "RemoteDisconnected", "ConnectionResetError",
                   "BrokenPipeError")


def kill_haproxy_once_blue_is_fenced(env, seen: list[str], max_seconds: float = 600) -> None:
    """Polls the hold flag over the LB's own SSH; once it is on, waits for the drain
    and the fence to be done (the swap then sleeps 2 s: slow:fence=2) and kills
    HAProxy."""
    ends = time.monotonic() + max_seconds
    with env.shell("lb-1") as lb:
        while time.monotonic() < ends:
            if " hold on" in lb.run(FLAGS).stdout:
                time.sleep(0.5)
                seen.append("held")
                assert lb.run(KILL).rc == 0
                return
            time.sleep(0.02)


def test_haproxy_dying_during_the_hold_aborts_with_blue_unfenced_then_resumes(
        secrets, tmp_path, monkeypatch):
    env = secrets
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": 1},
                       retire={"keep_blue_s": 3600})
    blue_dsn = admin_dsn(env)
    journal = Journal(cfg.state_dir)
    seen: list[str] = []

    def scenario() -> dict:
        # Blue fenced, requests held, and the swap stalled 2 s: HAProxy dies then.
        monkeypatch.setenv(VARIABLE, "slow:fence=2")
        killer = threading.Thread(target=kill_haproxy_once_blue_is_fenced, args=(env, seen))
        killer.start()
        try:
            with pytest.raises(rollout.PhaseFailed) as failed:
                rollout.rollout(cfg, print)
        finally:
            killer.join(timeout=660)
        monkeypatch.delenv(VARIABLE)
        after = {"failure": failed.value, "state": journal.latest(cfg.environment).state,
                 "fenced": fence.is_fenced(blue_dsn)}
        with env.shell("lb-1") as lb:  # as its service manager would
            assert lb.run(START).rc == 0
        after["serving"] = live_version(env)
        rollout.resume(cfg, print)
        after["resumed"] = (journal.latest(cfg.environment).state, live_version(env))
        rollout.rollback(cfg, print)  # v1 back for the tests after this one
        return after

    after, result, load = under_load(env, scenario, rate=30)
    assert not isinstance(after, Exception), after
    assert seen == ["held"]
    failure = after["failure"]
    assert failure.phase == "cutover", failure
    # Why it stopped (the pause's bound passed) and what could not be undone.
    assert "undoing it failed too (release the hold: HAProxy on lb-1" in failure.message
    assert after["state"] == "failed-cutover"
    assert after["fenced"] is False  # blue writable again before anyone looked
    assert after["serving"] == "1.0"  # restarted: blue, not holding
    assert after["resumed"] == ("baked", "2.0")
    events = journal.events(journal.latest(cfg.environment).id)
    assert any(e.phase == "cutover" and e.kind == "fail" and "HAProxy" in e.message
               for e in events)
    kinds = [(e.kind, e.message) for e in events]
    # The aborted swap's steps are journaled: blue had been fenced, and is not now.
    assert kinds.index(("step", "fence")) < kinds.index(("resume", "resumed at cutover"))
    assert result.stale_reads == 0, result.errors[:5]
    assert load.lost() == []
    # Failed requests: only while HAProxy was dead (connections refused or cut).
    assert result.failures > 0 and all(e.split(":")[0] in CONNECTION_GONE
                                       for e in result.errors), result.errors
    assert live_version(env) == "1.0"
