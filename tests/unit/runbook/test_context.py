"""The runbook only moves forward: a phase asked for before those it follows is
refused before it records or touches anything, and an ended rollout's state is final."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.db.fakes import FakeSync
from orchestrator.errors import InputError, OutOfOrder, PhaseFailed
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.remote.ansible import PlaybookResult
from orchestrator.rollouts import RolloutState
from orchestrator.runbook import green, live, rollout
from orchestrator.runbook.context import Context
from orchestrator.runbook.fakes import FakeFleet
from orchestrator.runbook.journal import Journal

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


def test_a_phase_before_its_predecessors_is_refused_untouched(tmp_path):
    cfg = config.load(SAMPLE)
    journal = Journal(tmp_path)
    rid = journal.start(cfg.environment, {})
    journal.record(rid, "preflight", "done", "preflight done")
    lb, sync = FakeLoadBalancer(), FakeSync()
    ctx = Context(cfg, journal, rid, FakeFleet(cfg, lb, sync),
                  facts={"blue": "blue", "green": "green"})
    with pytest.raises(OutOfOrder, match="phase cutover asked for before provision, patch"):
        live.cutover(ctx)
    assert [e.kind for e in journal.events(rid)] == ["done"]
    assert lb.events == [] and sync.events == []


def test_an_ended_rollout_s_state_is_final(tmp_path):
    journal = Journal(tmp_path)
    rid = journal.start("env", {})
    journal.set_state(rid, RolloutState.BAKED)  # not ended: it moves on
    journal.set_state(rid, RolloutState.SUCCEEDED, ended=True)
    with pytest.raises(OutOfOrder, match=f"rollout {rid} has ended \\(succeeded\\)"):
        journal.set_state(rid, RolloutState.RUNNING)
    assert journal.rollout(rid).state == "succeeded"


def test_resume_does_not_take_up_a_failed_rollout_that_ended(tmp_path, monkeypatch):
    """Failed before its cutover, a rollout ends (green destroyed): nothing to resume."""
    monkeypatch.setenv("GREENSWAP_DB_PASSWORD", "x")
    monkeypatch.setenv("GREENSWAP_DB_ADMIN_PASSWORD", "y")
    cfg = dataclasses.replace(config.load(SAMPLE), state_dir=tmp_path)
    journal = Journal(tmp_path)
    rid = journal.start(cfg.environment, {})
    journal.set_state(rid, RolloutState.FAILED, ended=True)
    with pytest.raises(InputError, match="has no unfinished rollout"):
        rollout.resume(cfg, print)


class FailingPatch(FakeFleet):
    def playbook(self, key, target, limit=None, **extravars):
        return PlaybookResult(self.cfg.playbook(key), "failed", 2,
                              failed_hosts={"green-app-1": "apt-get failed"}).raise_for_failure()


def test_a_failed_phase_carries_its_rollout_phase_and_host(tmp_path):
    cfg = config.load(SAMPLE)
    journal = Journal(tmp_path)
    rid = journal.start(cfg.environment, {})
    for before in ("preflight", "provision"):
        journal.record(rid, before, "done", f"{before} done")
    ctx = Context(cfg, journal, rid, FailingPatch(cfg, FakeLoadBalancer(), FakeSync()),
                  facts={"blue": "blue", "green": "green"})
    with pytest.raises(PhaseFailed) as failed:
        green.patch(ctx)
    assert (failed.value.rollout, failed.value.phase, failed.value.host) == (
        rid, "patch", "green-app-1")
    assert failed.value.as_dict()["error"] == "PhaseFailed"
    assert journal.events(rid)[-1].data == {"host": "green-app-1"}
