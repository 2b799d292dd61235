"""The bake's care for the reverse stream, with fakes: a replayer found stopped is
started again once; stopped again right after, the bake stops (a rollback could no
longer catch blue up) instead of restarting it for ever."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.db.fakes import FakeSync
from orchestrator.errors import PhaseFailed, ReplayError
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.rollouts import PHASES, Phase
from orchestrator.runbook import live
from orchestrator.runbook.context import Context
from orchestrator.runbook.fakes import FakeFleet
from orchestrator.runbook.journal import Journal

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


class DyingSync(FakeSync):
    """Its reverse replayer dies at once, every time (as on a row g raises on)."""

    def __init__(self, dies: bool) -> None:
        super().__init__()
        self.dies = dies
        self.background = set()  # not running when the bake first looks

    def start(self, direction: str) -> None:
        super().start(direction)
        if self.dies:
            self.background.discard(direction)

    def lag(self, direction: str):
        raise ReplayError("no lag in the fake")


def baking(tmp_path: Path, sync: FakeSync) -> Context:
    doc = yaml.safe_load(SAMPLE.read_text())
    doc.update(state_dir=str(tmp_path), checks=[],
               bake={"duration_s": 1.0, "interval_s": 0.1, "failures": 2})
    cfg = config.parse(doc, SAMPLE)
    journal = Journal(tmp_path)
    rollout_id = journal.start(cfg.environment, {})
    for before in PHASES[:PHASES.index(Phase.BAKE)]:
        journal.record(rollout_id, before, "done", f"{before} done")
    fleet = FakeFleet(cfg, FakeLoadBalancer(live="green"), sync)
    facts = journal.update_facts(rollout_id, blue="blue", green="green", cutover_at=time.time())
    return Context(cfg, journal, rollout_id, fleet, facts=facts)


def test_a_reverse_replayer_that_keeps_dying_stops_the_bake_with_green_live(tmp_path):
    sync = DyingSync(dies=True)
    ctx = baking(tmp_path, sync)
    with pytest.raises(PhaseFailed) as failed:
        live.bake(ctx)
    assert isinstance(failed.value.cause, ReplayError)
    assert "keeps stopping" in failed.value.message and "replayer died" in failed.value.message
    assert sync.events.count("start reverse") == 1  # restarted once, not for ever
    assert ctx.lb.live == "green"  # no doomed rollback was tried


def test_a_reverse_replayer_restarted_once_lets_the_bake_finish(tmp_path):
    sync = DyingSync(dies=False)
    ctx = baking(tmp_path, sync)
    live.bake(ctx)
    assert sync.events.count("start reverse") == 1 and ctx.done("bake")
