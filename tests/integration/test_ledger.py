"""A second app, of another shape than the sample, through greenswap's app contract:
ledger (examples/ledger) is one Python file shipped as a tarball and run by its own
control script, on port 7070 with /healthz, under its own database, app role and
admin role names, and its schema change renames a table with its sequence, widens
the key and folds two columns into jsonb. Its transform is checked on loopback
clusters; then it rolls out in the lab and back by hand under load, with no failed
request, stale read or lost write, through the command a wheel installs, run
from outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from orchestrator.runbook.journal import Journal
from tests.conftest import _clusters
from tests.lab_rollout import assert_clean, lb_url, under_load, write_config
from tests.sample_app import LEDGER
from tests.wheel import install


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
@pytest.mark.slow  # a whole rollout and rollback, and a wheel built: make test-slow
def test_ledger_rolls_out_and_back_under_load_from_the_installed_wheel(secrets, tmp_path):
    """Through the command a wheel installs, run from a directory outside the
    checkout, with ledger's files copied there too."""
    env = secrets
    installed = install(tmp_path / "install")
    away = tmp_path / "elsewhere"
    shutil.copytree(LEDGER, away / "ledger", ignore=shutil.ignore_patterns("dist"))
    cfg = write_config(away, env.lab, example=away / "ledger", bake={"duration_s": 3},
                       retire={"keep_blue_s": 3600})

    def greenswap(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([installed.greenswap, *args, "-c", str(cfg.path), "--yes"],
                              cwd=away, env=installed.env(**env.secrets()),
                              capture_output=True, text=True, timeout=900)

    live = env.lb().live_color()
    env.deploy(live, "1.0", cfg, schema_file=LEDGER / "schema_v1.sql")
    try:
        assert version(env) == "1.0"
        done, result, load = under_load(env, lambda: greenswap("rollout"))
        assert done.returncode == 0, done.stdout + done.stderr
        journal = Journal(cfg.state_dir)
        assert journal.latest(cfg.environment).state == "baked"
        assert_clean(result, load)
        assert version(env) == "2.0"

        done, result, load = under_load(env, lambda: greenswap("rollback"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert journal.latest(cfg.environment).state == "rolled-back"
        assert_clean(result, load)
        assert version(env) == "1.0"
    finally:
        serving = env.lb().live_color()
        env.playbook(str(LEDGER / "release.yml"), target=f"{serving}_app")
        env.deploy(serving, "1.0")  # the sample app again, for the tests that follow
