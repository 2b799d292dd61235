"""Where a crashed rollout stands: a swap SIGKILLed at a step (a real kill of a child
process running the swap against the fakes) leaves its steps in the step log, and
`status` and `resume` read from it the last step, what the watchdog did and what
'resume' will do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.cli.status import show_status, status_data
from orchestrator.config import Cutover
from orchestrator.db.fakes import FakeSync
from orchestrator.errors import ReplayError
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.lease import TakenOver
from orchestrator.rollouts import PHASES, Phase
from orchestrator.runbook.journal import Journal
from orchestrator.runbook.standing import lease_line, standing
from orchestrator.swap.cutover import CUTOVER, swap
from orchestrator.swap.steplog import StepLog, last_swap

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "sample-app" / "rollout.yml"

SWAP_IN_A_CHILD = """
import sys
from pathlib import Path
from orchestrator.config import Cutover
from orchestrator.db.fakes import FakeSync
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.swap.cutover import CUTOVER, swap
from orchestrator.swap.steplog import StepLog

with StepLog(Path(sys.argv[1]), "cutover") as log:
    swap(CUTOVER, FakeLoadBalancer(), FakeSync(), Cutover(max_pause_ms=300), log=log)
"""


def swap_killed(run_dir: Path, fault: str) -> int:
    env = {**os.environ, "GREENSWAP_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", SWAP_IN_A_CHILD, str(run_dir)], env=env,
                          timeout=60).returncode


@pytest.fixture
def crashed(tmp_path):
    """A rollout whose CLI died in its cutover, as the journal then has it."""
    doc = yaml.safe_load(SAMPLE.read_text())
    doc.update(state_dir=str(tmp_path / "state"), bake={"duration_s": 600})
    cfg = config.parse(doc, SAMPLE)
    journal = Journal(cfg.state_dir)
    rid = journal.start(cfg.environment, {"blue": "blue", "green": "green"})
    for before in PHASES[:PHASES.index(Phase.CUTOVER)]:
        journal.record(rid, before, "done", f"{before} done")
    journal.record(rid, "cutover", "start", "cutover started")
    return cfg, journal, rid


def test_a_swap_killed_after_the_fence_shows_its_steps_and_what_resume_will_do(crashed,
                                                                              capsys):
    cfg, journal, rid = crashed
    assert swap_killed(cfg.run_dir(rid), "after:fence") == -9
    trace = last_swap(cfg.run_dir(rid))
    assert trace is not None and trace.ended is None and trace.last_done == "fence"
    assert [s.name for s in trace.steps][:3] == ["lag check", "wait for long transactions",
                                                "prepare reverse stream"]
    journal.record(rid, "cutover", "watchdog", "the swap's CLI died mid-swap: blue unfenced "
                   "and serving")

    data = status_data(cfg, journal)
    assert data["swap"]["last_step"] == "fence" and data["swap"]["died_in"] is None
    assert {"hold", "fence"} <= set(data["cutover_steps_ms"])  # no longer null
    assert "unfenced" in data["watchdog"][0]["did"] and data["watchdog"][0]["at"] > 0
    assert data["resumes_at"] == "cutover"
    assert data["resume_will"].startswith("put blue back")
    show_status(data)
    shown = capsys.readouterr().out
    assert "the cutover died after step 'fence'" in shown and "resume would: put blue" in shown
    assert "watchdog at" in shown
    stand = standing(cfg, journal, journal.rollout(rid))
    assert "died after step 'fence'" in stand.resumes_at()
    assert "watchdog at" in stand.already_done() and "unfenced" in stand.already_done()


def test_a_swap_killed_after_the_flip_is_finished_not_retried(crashed):
    cfg, journal, rid = crashed
    assert swap_killed(cfg.run_dir(rid), "after:flip and release") == -9
    data = status_data(cfg, journal)
    assert data["swap"]["last_step"] == "flip and release"
    assert data["resume_will"].startswith("finish the cutover")
    assert "600 s" in data["resume_will"]  # then a whole bake


def test_a_swap_that_finished_is_not_reported_as_a_crash(crashed):
    cfg, journal, rid = crashed
    assert swap_killed(cfg.run_dir(rid), "") == 0
    trace = last_swap(cfg.run_dir(rid))
    assert trace is not None and trace.ended == "done" and trace.died_in is None


def test_a_step_log_cut_mid_line_is_read_up_to_the_cut(tmp_path):
    with StepLog(tmp_path, "rollback") as log:
        log.begin("hold")
    with open(tmp_path / "swap-steps.jsonl", "a") as f:
        f.write('{"swap": "cutover", "at": 5}\n{"step": "hold", "at": 6}\n{"step": "ho')
    trace = last_swap(tmp_path)
    assert trace is not None and trace.swap == "cutover" and trace.died_in == "hold"


def test_a_resumed_bake_says_what_it_watched_and_that_a_whole_window_follows(crashed):
    cfg, journal, rid = crashed
    journal.record(rid, "cutover", "done", "cutover done")
    journal.update_facts(rid, bake_segments=[{"start": 10.0, "end": 14.0, "rounds": 4}],
                         bake_watched_s=4.0)
    stand = standing(cfg, journal, journal.rollout(rid))
    assert stand.phase == "bake"
    assert "4.0 s of bake watched in 1 segment(s)" in stand.resumes_at()
    assert "whole bake.duration_s (600 s) from now" in stand.next


def test_the_lease_line_names_holder_pid_and_age():
    line = lease_line(TakenOver("ops@ctl pid 4242", 7, 4242, acquired_at=0.0,
                                expires_at=1.0, dead=True))
    assert "ops@ctl pid 4242 (rollout 7; its process is gone" in line
    assert "rollout 7" in line and "took the lease" in line
    assert lease_line(None) == "lease: taken (nobody held it)"


def test_a_rollback_killed_mid_swap_is_named_and_not_taken_for_the_bake(crashed):
    cfg, journal, rid = crashed
    journal.record(rid, "cutover", "done", "cutover done")
    with StepLog(cfg.run_dir(rid), "cutover") as log:
        log.begin("hold")
        log.end("hold", 0.1)
    with open(cfg.run_dir(rid) / "swap-steps.jsonl", "a") as f:  # as a kill leaves it
        f.write('{"swap": "rollback", "at": 7}\n{"step": "fence", "at": 8}\n')
    stand = standing(cfg, journal, journal.rollout(rid))
    assert "the rollback died in step 'fence'" in stand.resumes_at()
    assert stand.next.startswith("go on with bake") and "greenswap rollback" in stand.next


def test_a_swap_under_way_is_not_called_dead(crashed, tmp_path):
    cfg, journal, rid = crashed
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path;"
         " from orchestrator.swap.steplog import StepLog;"
         " log = StepLog(Path(sys.argv[1]), 'cutover'); log.begin('hold');"
         " print('ready', flush=True); time.sleep(60)", str(cfg.run_dir(rid))],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        data = status_data(cfg, journal)
        assert data["swap"]["running"] and data["swap"]["died_in"] is None
        assert f"under way (pid {writer.pid}), in step 'hold'" in data["swap"]["where"]
        assert data["resume_will"].startswith("nothing while that swap runs")
    finally:
        writer.kill()  # our own child, by its pid
        writer.wait(timeout=30)
    data = status_data(cfg, journal)
    assert not data["swap"]["running"] and data["swap"]["died_in"] == "hold"


class ReverseWontStart(FakeSync):
    def start(self, direction: str) -> None:
        if direction == "reverse":
            raise ReplayError("the reverse replayer would not start")
        super().start(direction)


def test_a_failure_after_the_flip_is_finished_forward_not_retried(crashed):
    cfg, journal, rid = crashed
    with pytest.raises(ReplayError), StepLog(cfg.run_dir(rid), "cutover") as log:
        swap(CUTOVER, FakeLoadBalancer(), ReverseWontStart(), Cutover(max_pause_ms=300), log=log)
    trace = last_swap(cfg.run_dir(rid))
    assert trace.ended.startswith("stopped") and trace.last_done == "flip and release"
    assert [s.name for s in trace.steps if s.failed] == ["start reverse stream"]
    assert standing(cfg, journal, journal.rollout(rid)).next.startswith("finish the cutover")


def test_lines_a_step_log_never_writes_are_skipped(tmp_path):
    with StepLog(tmp_path, "cutover") as log:
        log.begin("hold")
        log.end("hold", 1.0)
    with open(tmp_path / "swap-steps.jsonl", "a") as f:
        f.write('null\n[]\n"x"\n{"swap": 5}\n{"at": 1}\n{"step": "s"}\n{"step": 3, "at": 1}\n'
                '{"ended": 7}\n{"step": "hold", "ms": "x"}\n{"step": "fen')  # cut by a kill
    with StepLog(tmp_path, "rollback") as log:  # the next swap starts on a line of its own
        log.begin("fence")
        log.end("fence", 2.0)
    trace = last_swap(tmp_path)
    assert trace.swap == "rollback" and trace.last_done == "fence" and trace.ended == "done"
    assert [s.name for s in trace.steps] == ["fence"]


def test_a_step_log_that_cannot_be_written_does_not_stop_the_swap(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with StepLog(blocked, "cutover") as log:  # no log, no error
        log.begin("hold")
        log.end("hold", 1.0)
    assert last_swap(blocked) is None


def test_a_failed_verify_shows_each_key_s_rows_in_status_and_its_json(tmp_path, capsys):
    """What DatabaseSwap.verify journals on a mismatch reaches `status` and --json."""
    from orchestrator.db.mismatch import CAUSE_OUTSIDE, Mismatch, VerifyResult

    doc = yaml.safe_load(SAMPLE.read_text())
    doc.update(state_dir=str(tmp_path / "state"))
    cfg = config.parse(doc, SAMPLE)
    journal = Journal(cfg.state_dir)
    rid = journal.start(cfg.environment, {"blue": "blue", "green": "green"})
    result = VerifyResult("forward", 10, [Mismatch(
        "accounts", (7,), "differs", ("balance_cents",), {"id": 7, "balance": "1.50"},
        {"id": 7, "balance_cents": 150}, {"id": 7, "balance_cents": 151}, CAUSE_OUTSIDE)])
    journal.record(rid, "verify", "mismatch", result.summary(), direction="forward",
                   rows=[m.as_dict() for m in result.mismatches], next=result.next_step())
    journal.record(rid, "verify", "fail", result.summary())
    data = status_data(cfg, journal)
    found = data["mismatches"]
    assert found["summary"] == "green differs from f(blue) at 1 key(s): accounts[7] (balance_cents)"
    assert found["rows"][0]["actual"] == {"id": 7, "balance_cents": 151}
    assert found["rows"][0]["expected"]["balance_cents"] == 150
    assert "written outside replay" in found["next"]
    show_status(data)
    shown = capsys.readouterr().out
    assert "accounts[7]: differs in balance_cents; green was written outside replay" in shown
    assert "balance_cents: green has 151, f(blue) gives 150" in shown
