"""A second app, of another shape than the sample, through greenswap's app contract:
ledger (examples/ledger) is one Python file shipped as a tarball and run by its own
control script, on port 7070 with /healthz, under its own database, app role and
admin role names, and its schema change renames a table with its sequence, widens
the key and folds two columns into jsonb. Its transform is checked on loopback
clusters; then it rolls out in the lab and back by hand under load, with no failed
request, stale read or lost write."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.conftest import _clusters
from tests.lab_rollout import assert_clean, lb_url, under_load, write_config
from tests.sample_app import LEDGER


def version(env) -> str:
    return env.get_json(lb_url(env) + "/healthz")["version"]


@pytest.fixture
def ledger_clusters():
    yield from _clusters(LEDGER, seed=(
        "INSERT INTO clients (name, email, balance, street, city) VALUES"
        " ('Ada', 'ada@x.test', 12.50, '1 Main St', 'Zurich'), ('Bob', 'b@x.test', 0, '', '')"))


def test_ledger_s_transform_checks_against_both_schemas(ledger_clusters):
    blue, green = ledger_clusters
    checked = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "transform", "check",
         str(LEDGER / "transform.py"), "--blue", blue.dsn(), "--green", green.dsn()],
        capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.lab
def test_ledger_rolls_out_and_back_under_load(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, example=LEDGER, bake={"duration_s": 3},
                       retire={"keep_blue_s": 3600})
    live = env.lb().live_color()
    env.deploy(live, "1.0", cfg, schema_file=LEDGER / "schema_v1.sql")
    try:
        assert version(env) == "1.0"
        ctx, result, load = under_load(env, lambda: rollout.rollout(cfg, print))
        assert not isinstance(ctx, Exception), ctx
        assert Journal(cfg.state_dir).rollout(ctx.rollout_id).state == "baked"
        assert_clean(result, load)
        assert version(env) == "2.0"

        back, result, load = under_load(env, lambda: rollout.rollback(cfg, print))
        assert not isinstance(back, Exception), back
        assert Journal(cfg.state_dir).rollout(back.rollout_id).state == "rolled-back"
        assert_clean(result, load)
        assert version(env) == "1.0"
    finally:
        serving = env.lb().live_color()
        env.playbook(str(LEDGER / "release.yml"), target=f"{serving}_app")
        env.deploy(serving, "1.0")  # the sample app again, for the tests that follow
