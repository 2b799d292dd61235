"""The config's names, honoured end to end: a database, an app role, greenswap's
admin role and an app port that are not the sample's, through a whole rollout and
a rollback by hand under load, with no failed request, stale read or lost write.
Blue is built under those names first, as a rollout of that config would leave it
(`postgres.yml` and the app's deploy playbook take them from the config), and put
back on the sample's names afterwards for the tests that follow."""

from __future__ import annotations

import psycopg2
import pytest

from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.lab_rollout import assert_clean, db_record, live_version, under_load, write_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]  # a whole rollout and rollback: make test-slow

NAMES = {"dbname": "orders", "app_user": "shop", "admin_user": "gsops"}


def test_a_rollout_and_a_rollback_under_the_config_s_own_names(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab, database=NAMES, app={"port": 9090},
                       bake={"duration_s": 3}, retire={"keep_blue_s": 3600})
    live = env.lb().live_color()
    env.deploy(live, "1.0", cfg)
    try:
        ctx, result, load = under_load(env, lambda: rollout.rollout(cfg, print))
        assert not isinstance(ctx, Exception), ctx
        assert_clean(result, load)
        assert live_version(env) == "2.0"
        green_db = db_record(env, ctx.green).address
        conn = psycopg2.connect(host=green_db, dbname="orders", user="gsops",
                                password=env.admin_password(), connect_timeout=5)
        try:
            cur = conn.cursor()
            cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'")
            assert cur.fetchone() == ("shop",)  # migrations ran as the app's role
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = 'app'")
            assert cur.fetchone() == (0,)  # nothing made under the sample's names
        finally:
            conn.close()

        back, result, load = under_load(env, lambda: rollout.rollback(cfg, print))
        assert not isinstance(back, Exception), back
        assert Journal(cfg.state_dir).rollout(back.rollout_id).state == "rolled-back"
        assert_clean(result, load)
        assert live_version(env) == "1.0"
    finally:
        env.deploy(env.lb().live_color(), "1.0")  # the sample's names again
