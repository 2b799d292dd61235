"""A third app, one whose rows are updated many times a second: stock
(examples/stock). Every request moves one of three products' stock, so each write
updates a hot counter row and inserts a uuid-keyed move and an audit line. Its
transform is checked on loopback clusters; then it rolls out in the lab and back
by hand under that load through the LB, all the way through verify: no failed
request, stale read or lost write, and on both colours every counter equals the
sum of its moves."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from orchestrator.runbook.journal import Journal
from tests.conftest import _clusters
from tests.hot_rows import BLUE_COUNTERS, GREEN_COUNTERS, SEED, counters_match
from tests.lab_rollout import admin_dsn, assert_clean, lb_url, under_load, write_config
from tests.sample_app import STOCK


def test_stock_s_transform_checks_against_both_schemas():
    for blue, green in _clusters(STOCK, SEED):
        checked = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "transform", "check",
             str(STOCK / "transform.py"), "--blue", blue.dsn(), "--green", green.dsn()],
            capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def counters(env, cfg, color: str, query: str) -> list[tuple]:
    conn = psycopg2.connect(admin_dsn(env, color, cfg))
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.lab
@pytest.mark.slow  # a whole rollout and rollback: make test-slow
def test_stock_rolls_out_and_back_with_hot_counters_under_load(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, example=STOCK, bake={"duration_s": 3},
                       retire={"keep_blue_s": 3600})

    def greenswap(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args,
                               "-c", str(cfg.path), "--yes"], capture_output=True, text=True,
                              timeout=900)

    live = env.lb().live_color()
    env.deploy(live, "1.0", cfg, schema_file=STOCK / "schema_v1.sql")
    try:
        version = env.get_json(lb_url(env) + "/ready")["version"]
        assert version == "1.0"
        done, result, load = under_load(env, lambda: greenswap("rollout"), shape="moves")
        assert done.returncode == 0, done.stdout + done.stderr
        journal = Journal(cfg.state_dir)
        rollout = journal.latest(cfg.environment)
        assert rollout.state == "baked"
        assert rollout.facts["verified_at"] is not None  # at one point in blue's log
        assert_clean(result, load)
        green = env.lb().live_color()
        assert green != live
        counters_match(counters(env, cfg, green, GREEN_COUNTERS))
        counters_match(counters(env, cfg, live, BLUE_COUNTERS))  # fed by reverse replay

        done, result, load = under_load(env, lambda: greenswap("rollback"), shape="moves")
        assert done.returncode == 0, done.stdout + done.stderr
        assert journal.latest(cfg.environment).state == "rolled-back"
        assert_clean(result, load)
        assert env.lb().live_color() == live
        counters_match(counters(env, cfg, live, BLUE_COUNTERS))
    finally:
        serving = env.lb().live_color()
        env.playbook(str(STOCK / "release.yml"), target=f"{serving}_app")
        env.deploy(serving, "1.0")  # the sample app again, for the tests that follow
