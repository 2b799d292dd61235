"""`greenswap plan` rehearses the real runbook against recording fakes: its phases
and steps are what the engine's code asks for, so a change to a phase shows in the
plan without touching the plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.errors import ConfigError, PhaseFailed
from orchestrator.rollouts import PHASES
from orchestrator.runbook.plan import rehearse
from orchestrator.swap.database import DatabaseSwap

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    for variable in ("GREENSWAP_DB_PASSWORD", "GREENSWAP_DB_ADMIN_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)  # a plan reads no secret
    loaded = config.load(SAMPLE)
    return dataclasses.replace(loaded, state_dir=tmp_path / "state")


def steps(phases, name: str) -> list[str]:
    return next(p for p in phases if p.name == name).lines()


def test_every_phase_in_order_with_the_swap_s_own_steps(cfg):
    phases = rehearse(cfg)
    assert tuple(p.name for p in phases) == PHASES
    cutover = steps(phases, "cutover")
    order = ["watchdog: armed", "LB: hold new requests", "database: fence blue",
             "replay: catch up to blue's final position", "LB: every new request to green"]
    found = [next(i for i, line in enumerate(cutover) if line.startswith(o)) for o in order]
    assert found == sorted(found), cutover
    assert "alongside the catch-up: database: sequences blue -> green" in cutover
    assert steps(phases, "schema") == [
        "database: green gets its migrations (schema_v2.sql) as role app, each once"]
    assert not (cfg.state_dir).exists()  # a rehearsal writes nothing


def test_a_step_added_to_the_engine_shows_in_the_plan(cfg, monkeypatch):
    real_verify = DatabaseSwap.verify

    def verify_and_hold(self):
        real_verify(self)
        self.lb.hold()

    monkeypatch.setattr(DatabaseSwap, "verify", verify_and_hold)
    verify = steps(rehearse(cfg), "verify")
    assert verify[1].startswith("LB: hold new requests"), verify


def test_the_bake_s_rounds_are_counted_and_a_kept_blue_stops_the_rollout(cfg):
    kept = dataclasses.replace(cfg, retire=config.Retire(keep_blue_s=3600.0))
    phases = rehearse(kept)
    bake = steps(phases, "bake")
    rounds = int(cfg.bake.duration_s / cfg.bake.interval_s)
    assert f"wait {cfg.bake.interval_s:g} s (x{rounds})" in bake
    retire = steps(phases, "retire")
    assert retire[0].startswith("the rollout stops here, state baked: blue is kept until")
    assert "hosts: destroy blue-app-1, blue-app-2, blue-db-1" in retire


def test_a_phase_that_would_fail_fails_the_plan(cfg, monkeypatch):
    def refuse(self):
        raise ConfigError("lb.kind", "cannot hold")

    monkeypatch.setattr(DatabaseSwap, "prepare", refuse)
    with pytest.raises(PhaseFailed, match="phase cutover failed: cutover not started"):
        rehearse(cfg)


def test_the_app_s_deploy_playbook_gets_the_config_s_names(cfg):
    named = dataclasses.replace(cfg, app=dataclasses.replace(
        cfg.app, port=9090, health_path="/ready"), database=(
        dataclasses.replace(cfg.database, dbname="orders", app_user="shop", port=6543)))
    deploy = steps(rehearse(named), "deploy")
    assert ("ansible: deploy.yml on green_app (app_version=2.0, app_port=9090,"
            " health_path=/ready, db_host=198.18.0.15, db_name=orders, db_user=shop,"
            " db_port=6543, restart_throttle=0)") in deploy, deploy
    assert deploy[0].startswith("ansible: postgres.yml on green_db (recreate=True,") and (
        "db_name=orders, db_user=shop, db_port=6543" in deploy[0])
