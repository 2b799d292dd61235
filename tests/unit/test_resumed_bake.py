"""A bake killed and resumed late is a whole bake again: a full bake.duration_s of
checks from the resume, a failing check in it still rolls back, and each segment
is journaled with what it watched. Fakes for the LB and the databases, a clock that
moves only when the bake sleeps (so the rounds are counted, not timed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.db.sync import FakeSync
from orchestrator.errors import BakeFailed, PhaseFailed, RetireNotDue
from orchestrator.lb.base import FakeLoadBalancer
from orchestrator.runbook import live
from orchestrator.runbook.context import Context
from orchestrator.runbook.fleet import FakeFleet
from orchestrator.runbook.journal import PHASES, Journal, Phase

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "rollout.yml"
CUT_OVER_AT = 1_000_000.0
DURATION_S, INTERVAL_S = 10.0, 1.0


class Clock:
    """The controller: time moves only when the runbook sleeps; no hook, no watchdog."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def run_hooks(self, paths, moment, facts, hide) -> list[str]:
        return []

    def arm_watchdog(self, ctx, plan):
        return self

    def stop(self) -> None:
        pass


class SickAfter(FakeFleet):
    """Green's bake checks pass `healthy` times, then fail (None: never)."""

    def __init__(self, *args, healthy: int | None = None) -> None:
        super().__init__(*args)
        self.healthy, self.rounds = healthy, 0

    def check(self, scope: str, color: str) -> list[str]:
        self.rounds += 1
        if self.healthy is not None and self.rounds > self.healthy:
            return ["green healthy: SELECT returned false"]
        return []


def killed_in_bake(tmp_path: Path, resumed_after_s: float, healthy: int | None = None,
                   keep_blue_s: float = 0) -> Context:
    """A rollout whose CLI died 2 s into its bake, resumed `resumed_after_s` after the
    cutover."""
    doc = yaml.safe_load(SAMPLE.read_text())
    doc.update(state_dir=str(tmp_path), checks=[],
               bake={"duration_s": DURATION_S, "interval_s": INTERVAL_S, "failures": 2},
               retire={"keep_blue_s": keep_blue_s})
    cfg = config.parse(doc, SAMPLE)
    journal = Journal(tmp_path)
    rollout_id = journal.start(cfg.environment, {})
    for before in PHASES[:PHASES.index(Phase.BAKE)]:
        journal.record(rollout_id, before, "done", f"{before} done")
    journal.record(rollout_id, "bake", "start", "bake started")
    facts = journal.update_facts(rollout_id, blue="blue", green="green",
                                 cutover_at=CUT_OVER_AT,
                                 bake_segments=[{"start": CUT_OVER_AT, "end": CUT_OVER_AT + 2,
                                                 "rounds": 2}])
    fleet = SickAfter(cfg, FakeLoadBalancer(live="green"), FakeSync(), healthy=healthy)
    fleet.fake_sync.background.add("reverse")
    return Context(cfg, journal, rollout_id, fleet, facts=facts,
                   controller=Clock(CUT_OVER_AT + resumed_after_s))


def test_a_bake_resumed_after_its_duration_watches_a_full_window(tmp_path):
    ctx = killed_in_bake(tmp_path, resumed_after_s=DURATION_S * 5)
    resumed_at = ctx.controller.now()
    live.bake(ctx)
    assert ctx.fleet.rounds == DURATION_S / INTERVAL_S  # old code: 0 rounds, bake "done"
    first, second = ctx.facts["bake_segments"]
    assert first == {"start": CUT_OVER_AT, "end": CUT_OVER_AT + 2, "rounds": 2}
    assert second == {"start": resumed_at, "end": resumed_at + DURATION_S, "rounds": 10}
    assert ctx.facts["bake_watched_s"] == 2 + DURATION_S
    assert ctx.done(Phase.BAKE)


def test_a_check_failing_in_the_resumed_window_rolls_back(tmp_path):
    ctx = killed_in_bake(tmp_path, resumed_after_s=DURATION_S * 5, healthy=3)
    with pytest.raises(PhaseFailed) as failed:
        live.bake(ctx)
    assert isinstance(failed.value.cause, BakeFailed), failed.value
    assert ctx.lb.live == "blue"
    assert ctx.fleet.rounds == 5  # 3 good rounds, then bake.failures (2) bad ones
    assert ctx.facts["bake_segments"][-1]["rounds"] == 5


def test_a_shorter_resumed_bake_is_the_operators_journaled_choice(tmp_path):
    ctx = killed_in_bake(tmp_path, resumed_after_s=DURATION_S * 5)
    ctx.bake_for_s = 3.0
    live.bake(ctx)
    assert ctx.fleet.rounds == 3
    said = [e for e in ctx.journal.events(ctx.rollout_id) if e.kind == "shortened"]
    assert len(said) == 1 and "3 s" in said[0].message and "bake.duration_s" in said[0].message


def test_retire_waits_for_keep_blue_s_from_the_cutover_not_from_a_resume(tmp_path):
    # Blue was kept keep_blue_s after the cutover whatever the CLI did meanwhile; a
    # resume after that retires once its own full bake has run (the phase before).
    ctx = killed_in_bake(tmp_path, resumed_after_s=50, keep_blue_s=100)
    live.bake(ctx)
    with pytest.raises(RetireNotDue):
        live.retire(ctx)
    ctx.controller.sleep(40)
    live.retire(ctx)
    assert ctx.done(Phase.RETIRE)
