"""Every guard of blue's retirement, with a resume after its deadline has passed
(docs/rollout.md, "Resume rules"): the clock never skips one.

- bake: killed and resumed late, it is a whole bake again (a full bake.duration_s
  of checks from the resume; a failing check in it still rolls back), and each
  segment is journaled with what it watched;
- retire.keep_blue_s counts from the cutover;
- the patch window: a cutover resumed past the cutoff is held back; a bake resumed
  after the window closed still runs whole (green serves already);
- a canary killed mid-way starts again from blue, each step watched whole.

Fakes for the LB and the databases, and a clock that moves only when the runbook
sleeps, so rounds are counted, not timed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.db.fakes import FakeSync
from orchestrator.errors import (
    BakeFailed,
    BlueIsLive,
    CutoverAborted,
    PhaseFailed,
    RetireNotDue,
)
from orchestrator.lb.fakes import FakeLoadBalancer, FakeWeightedLoadBalancer
from orchestrator.rollouts import PHASES, Phase
from orchestrator.runbook import live
from orchestrator.runbook.context import Context
from orchestrator.runbook.fakes import FakeFleet
from orchestrator.runbook.journal import Journal

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"
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

    def arm_watchdog(self, arming):
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
                   keep_blue_s: float = 0, **overrides) -> Context:
    """A rollout whose CLI died 2 s into its bake, resumed `resumed_after_s` after the
    cutover."""
    return killed_in(Phase.BAKE, tmp_path, resumed_after_s, healthy, keep_blue_s, **overrides)


def killed_in(phase: Phase, tmp_path: Path, resumed_after_s: float, healthy: int | None = None,
              keep_blue_s: float = 0, balancer=None, **overrides) -> Context:
    doc = yaml.safe_load(SAMPLE.read_text())
    doc.update(state_dir=str(tmp_path), checks=[],
               bake={"duration_s": DURATION_S, "interval_s": INTERVAL_S, "failures": 2},
               retire={"keep_blue_s": keep_blue_s}, **overrides)
    cfg = config.parse(doc, SAMPLE)
    journal = Journal(tmp_path)
    rollout_id = journal.start(cfg.environment, {})
    for before in PHASES[:PHASES.index(phase)]:
        journal.record(rollout_id, before, "done", f"{before} done")
    journal.record(rollout_id, phase, "start", f"{phase} started")
    facts = journal.update_facts(rollout_id, blue="blue", green="green",
                                 cutover_at=CUT_OVER_AT,
                                 bake_segments=[{"start": CUT_OVER_AT, "end": CUT_OVER_AT + 2,
                                                 "rounds": 2}])
    fleet = SickAfter(cfg, balancer or FakeLoadBalancer(live="green"), FakeSync(), healthy=healthy)
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


WINDOW = {"cron": "0 2 * * *", "duration_m": 60, "timezone": "UTC"}
DAY = datetime(2026, 12, 3, tzinfo=UTC)


def test_a_cutover_resumed_past_the_window_s_cutoff_is_held_back(tmp_path):
    ctx = killed_in(Phase.CUTOVER, tmp_path, 0, balancer=FakeLoadBalancer(live="blue"),
                    window=WINDOW)
    ctx.controller = Clock((DAY + timedelta(hours=2, minutes=59, seconds=55)).timestamp())
    with pytest.raises(PhaseFailed) as failed:
        live.cutover(ctx)
    assert isinstance(failed.value.cause, CutoverAborted)
    assert "cutoff" in failed.value.message and ctx.lb.live == "blue"


def test_a_bake_resumed_after_the_window_closed_still_watches_a_whole_window(tmp_path):
    ctx = killed_in_bake(tmp_path, 0, window=WINDOW)
    ctx.controller = Clock((DAY + timedelta(hours=5)).timestamp())  # closed at 03:00
    live.bake(ctx)
    assert ctx.fleet.rounds == DURATION_S / INTERVAL_S


def test_a_canary_killed_midway_starts_again_from_blue_each_step_watched_whole(tmp_path):
    lb = FakeWeightedLoadBalancer()
    lb.shift("green", 50)  # where the killed canary left the listener
    ctx = killed_in(Phase.CUTOVER, tmp_path, 10_000, balancer=lb, **shared_alb(tmp_path))
    seen: list[dict] = []
    ctx.fleet.check = lambda scope, color: seen.append(lb.weights()) or []
    live.cutover(ctx)
    watched = [e.data for e in ctx.journal.events(ctx.rollout_id) if e.kind == "watched"]
    assert [w["end"] - w["start"] for w in watched] == [CANARY_S, CANARY_S]  # 10 %, 50 %
    assert [w["rounds"] for w in watched] == [CANARY_S / INTERVAL_S] * 2
    assert seen[0] == {"blue": 90, "green": 10}  # from blue again, not from 50 %
    assert lb.weights() == {"blue": 0, "green": 100}


CANARY_S = 4.0


def shared_alb(tmp_path: Path) -> dict:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    key = tmp_path / "id_ed25519"
    key.write_text("x\n")
    key.chmod(0o600)
    return {"database": {"mode": "shared", "host": "198.18.0.5"}, "lb": {"kind": "aws-alb"},
            "provider": {"kind": "aws", "ssh_key": str(key), "green_hosts": {"app": 2}},
            "aws": {"terraform_outputs": str(outputs)},
            "cutover": {"canary_steps": [10, 50, 100], "canary_interval_s": CANARY_S}}


@pytest.mark.parametrize("phase", [Phase.BAKE, Phase.RETIRE])
def test_neither_bake_nor_retire_runs_when_a_rollback_got_past_its_flip(tmp_path, phase):
    # A 'greenswap rollback' killed right after its flip: blue serves, the journal
    # still says cut over. Baking green, or retiring the blue that serves, is wrong.
    ctx = killed_in(phase, tmp_path, DURATION_S * 5, balancer=FakeLoadBalancer(live="blue"))
    run = live.bake if phase == Phase.BAKE else live.retire
    with pytest.raises(PhaseFailed) as failed:
        run(ctx)
    assert isinstance(failed.value.cause, BlueIsLive), failed.value
    assert "greenswap rollback" in failed.value.hint
    assert ctx.fleet.rounds == 0 and ctx.fleet.asked == []  # nothing checked or run
