"""Whole rollouts in the lab, under load through the LB: real hosts, Ansible, HAProxy
and PostgreSQL. Every acknowledged write must survive, no request may fail, no read
may be stale: through the cutover, a rollback by hand, and a rollback on its own
when green's health fails during bake."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from orchestrator.db import fence
from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.lab_rollout import (
    admin_dsn,
    assert_clean,
    db_record,
    live_version,
    under_load,
    write_config,
)

pytestmark = pytest.mark.lab

def test_rollout_v1_to_v2_under_load_then_rollback_by_hand(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": 3}, retire={"keep_blue_s": 3600})
    ctx, result, load = under_load(env, lambda: rollout.rollout(cfg, print))
    assert not isinstance(ctx, Exception), ctx

    journal = Journal(cfg.state_dir)
    assert journal.rollout(ctx.rollout_id).state == "baked"  # blue kept for an hour
    assert_clean(result, load)
    assert live_version(env) == "2.0"
    assert ctx.lb.live_color() == ctx.green
    assert fence.is_fenced(ctx.fleet.dsn(ctx.blue))  # only reverse replay writes to blue
    steps = ctx.facts["cutover_steps"]
    assert {"hold", "fence", "catch up", "flip and release"} <= set(steps)
    assert ctx.facts["cutover_pause_ms"] < 1000

    # Writes made on green after the cutover must be on blue after the rollback.
    ctx2, result, load = under_load(env, lambda: rollout.rollback(cfg, print))
    assert not isinstance(ctx2, Exception), ctx2
    assert journal.rollout(ctx2.rollout_id).state == "rolled-back"
    assert_clean(result, load)
    assert live_version(env) == "1.0"
    assert not fence.is_fenced(ctx2.fleet.dsn(ctx2.blue))
    assert ctx2.fleet.hosts(ctx2.green, "app") == []  # green is gone


def test_bake_failure_rolls_back_on_its_own(secrets, tmp_path):
    env = secrets
    # Green's health: a SQL check that fails once the test says so, as a broken
    # dependency would, while green keeps answering requests.
    health = {"name": "green healthy", "kind": "sql", "scopes": ["bake"],
              "query": "SELECT coalesce(current_setting('greenswap_test.healthy', true),"
                       " 'yes') = 'yes'"}
    cfg = write_config(tmp_path, env.lab, checks=[health], bake={"duration_s": 60})
    sicken = threading.Thread(target=make_green_sick_after_cutover, args=(env, cfg))
    sicken.start()
    outcome, result, load = under_load(env, lambda: rollout.rollout(cfg, print))
    sicken.join(timeout=10)

    assert isinstance(outcome, rollout.PhaseFailed), outcome
    assert "rolled back" in str(outcome)
    latest = Journal(cfg.state_dir).latest(cfg.environment)
    assert latest.state == "rolled-back"
    assert latest.facts["rollback_pause_ms"] < 1000
    assert live_version(env) == "1.0"
    assert_clean(result, load)  # writes made on green during bake are on blue


@pytest.mark.slow  # a whole rollout, a kill and a resume: make test-slow
def test_a_bake_resumed_after_its_duration_still_rolls_back_on_a_failing_check(secrets,
                                                                               tmp_path):
    env = secrets
    health = {"name": "green healthy", "kind": "sql", "scopes": ["bake"],
              "query": "SELECT coalesce(current_setting('greenswap_test.healthy', true),"
                       " 'yes') = 'yes'"}
    bake_s = 3
    cfg = write_config(tmp_path, env.lab, checks=[health], retire={"keep_blue_s": 0},
                       bake={"duration_s": bake_s, "interval_s": 0.5, "failures": 2})

    def killed_in_bake_then_resumed_late_with_green_sick():
        first = cli(cfg, "rollout", "--yes", fault="after:bake round",
                    out=tmp_path / "first.out")
        assert first.wait(timeout=900) == -signal.SIGKILL, (tmp_path / "first.out").read_text()
        time.sleep(bake_s + 1)  # the whole bake.duration_s has passed since the cutover
        make_green_sick(env)
        second = cli(cfg, "resume", out=tmp_path / "second.out")
        return second.wait(timeout=900)

    code, result, load = under_load(env, killed_in_bake_then_resumed_late_with_green_sick)
    assert code == 1, (tmp_path / "second.out").read_text()  # the bake failed: rolled back
    latest = Journal(cfg.state_dir).latest(cfg.environment)
    assert latest.state == "rolled-back"
    killed, resumed = latest.facts["bake_segments"]
    assert killed["rounds"] == 1 and resumed["rounds"] == 2  # two bad rounds, then back
    assert live_version(env) == "1.0"
    assert_clean(result, load)  # writes made on green during bake are on blue


def make_green_sick(env) -> None:
    green_db = db_record(env, "green").name
    # As the server's superuser, on the host: greenswap's own role may not change
    # a database's settings (tests/faults/test_db_role.py).
    with env.shell(green_db) as shell:
        sql = "ALTER DATABASE app SET greenswap_test.healthy = 'no'"
        assert shell.run(f'runuser -u postgres -- psql -X -q -d app -c "{sql}"').ok


def make_green_sick_after_cutover(env, cfg) -> None:
    deadline = time.monotonic() + 600
    lb = env.lb()
    while lb.live_color() != "green" and time.monotonic() < deadline:
        time.sleep(0.5)
    make_green_sick(env)


def cli(cfg, *args: str, fault: str | None = None, out=None) -> subprocess.Popen:
    """The command in a process of its own; all it says to the file `out`, if given
    (a pipe nobody reads could fill and stop a long command), else its errors to a
    pipe."""
    env = {k: v for k, v in os.environ.items() if k != "GREENSWAP_FAULT"}
    if fault:
        env["GREENSWAP_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args, "-c", str(cfg.path)],
                            env=env, stdout=out.open("w") if out else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if out else subprocess.PIPE)


def wait_for_event(cfg, phase: str, kind: str, deadline_s: float = 600) -> None:
    ends = time.monotonic() + deadline_s
    while time.monotonic() < ends:
        journal = Journal.existing(cfg.state_dir)
        latest = journal.latest(cfg.environment) if journal else None
        if latest and any(e.phase == phase and e.kind == kind for e in journal.events(latest.id)):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no {phase} {kind} event within {deadline_s}s")


def test_sigkill_in_sync_mid_cutover_and_in_bake_then_resume_loses_nothing(secrets, tmp_path):
    """Killed three times, resumed each time: nothing lost, and after each kill `status`
    and `resume` say where it stopped and what was done about it; a bake resumed after
    its whole duration had passed watches a whole bake.duration_s again."""
    env = secrets
    bake_s = 2
    cfg = write_config(tmp_path, env.lab, bake={"duration_s": bake_s, "interval_s": 0.5},
                       retire={"keep_blue_s": 0})
    lb = env.lb()
    said: dict[str, str] = {}

    def crash_three_times_then_resume():
        first = cli(cfg, "rollout", "--yes")
        wait_for_event(cfg, "sync", "start")
        first.kill()  # SIGKILL: no cleanup of any kind
        first.wait(timeout=30)

        # Resume, and die right after blue is fenced, with requests held at the LB.
        second = cli(cfg, "resume", fault="after:fence")
        assert second.wait(timeout=600) == -signal.SIGKILL, second.stderr.read()
        died = time.monotonic()
        served_again = None
        while time.monotonic() - died < 10:
            if not fence.is_fenced(admin_dsn(env, "blue")) and "hold on" not in hold_state(lb):
                served_again = time.monotonic() - died
                break
            time.sleep(0.05)
        said["status"] = status_after_watchdog(cfg)

        # Resume, and die after the first round of bake; resume again once the whole
        # bake.duration_s has passed since then.
        third = cli(cfg, "resume", fault="after:bake round", out=tmp_path / "third.out")
        assert third.wait(timeout=900) == -signal.SIGKILL, (tmp_path / "third.out").read_text()
        said["third"] = (tmp_path / "third.out").read_text()
        time.sleep(bake_s + 1)
        fourth = cli(cfg, "resume", out=tmp_path / "fourth.out")
        assert fourth.wait(timeout=900) == 0, (tmp_path / "fourth.out").read_text()
        said["fourth"] = (tmp_path / "fourth.out").read_text()
        return served_again

    served_again, result, load = under_load(env, crash_three_times_then_resume)
    assert not isinstance(served_again, Exception), served_again
    # The watchdog put blue back, unfenced and released, right after the deadline.
    assert served_again is not None and served_again < cfg.cutover.max_pause_ms / 1000 + 2
    latest = Journal(cfg.state_dir).latest(cfg.environment)
    assert latest.state == "succeeded"
    events = Journal(cfg.state_dir).events(latest.id)
    assert any(e.kind == "watchdog" and "unfenced" in e.message for e in events)
    assert live_version(env) == "2.0"
    assert [r.name for r in env.lab.records() if r.color == "blue"] == []  # retired
    assert_clean(result, load)

    # status --json after the kill mid-swap: the last step, the watchdog's action.
    status = json.loads(said["status"])
    assert status["swap"]["swap"] == "cutover" and status["swap"]["last_step"] == "fence"
    assert status["swap"]["ended"] is None and "fence" in status["cutover_steps_ms"]
    assert "unfenced" in status["watchdog"][0]["did"]
    assert status["resumes_at"] == "cutover" and status["resume_will"].startswith("put blue")
    # What the third command said before it acted: the lease, where, what was done.
    lines = said["third"].splitlines()
    assert any("lease: took over from" in line and "is gone" in line for line in lines), lines
    assert any("at phase cutover; the cutover died after step 'fence'" in line
               for line in lines), said["third"]
    assert any("already done: watchdog at" in line and "unfenced" in line
               for line in lines), said["third"]
    # The bake: killed after a round, resumed late, then a whole bake.duration_s.
    assert re.search(r"at phase bake; [0-9.]+ s of bake watched in 1 segment\(s\)",
                     said["fourth"]), said["fourth"]
    killed, resumed = latest.facts["bake_segments"]
    assert killed["rounds"] == 1
    assert resumed["end"] - resumed["start"] >= bake_s and resumed["rounds"] >= bake_s / 0.5


def status_after_watchdog(cfg) -> str:
    """`status --json`, once the watchdog's action is in the journal."""
    ends = time.monotonic() + 30
    while True:
        shown = subprocess.run([sys.executable, "-m", "orchestrator.cli", "status", "--json",
                                "-c", str(cfg.path)], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        if json.loads(shown.stdout)["watchdog"] or time.monotonic() > ends:
            return shown.stdout
        time.sleep(0.5)


def hold_state(lb) -> str:
    return lb.command("show map /etc/haproxy/greenswap-flags.map")
