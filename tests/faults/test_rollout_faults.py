"""Faults before the cutover, in the lab with real parts: each must stop the rollout
with blue untouched (serving, writable, no slot left on it) and green gone."""

from __future__ import annotations

import psycopg2
import pytest

from orchestrator.db import fence
from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.lab_rollout import (
    SAMPLE_APP,
    admin_dsn,
    assert_clean,
    live_version,
    under_load,
    write_config,
)

pytestmark = pytest.mark.lab

SOCKET = "/run/haproxy/admin.sock"


def assert_blue_untouched(env) -> None:
    assert live_version(env) == "1.0"
    assert [r.name for r in env.lab.records() if r.color == "green"] == []
    dsn = admin_dsn(env)
    assert not fence.is_fenced(dsn)
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_replication_slots")
            assert cur.fetchone()[0] == 0  # no slot pins blue's WAL
    finally:
        conn.close()


def test_a_missing_lb_admin_socket_stops_the_rollout_before_any_change(secrets, tmp_path):
    env = secrets
    cfg = write_config(tmp_path, env.lab)
    with env.shell("lb-1") as lb:
        assert lb.run(f"mv {SOCKET} {SOCKET}.away").rc == 0
        try:
            with pytest.raises(rollout.PhaseFailed) as failed:
                rollout.rollout(cfg, print)
        finally:
            lb.run(f"mv {SOCKET}.away {SOCKET}")
    assert failed.value.phase == "preflight" and "admin socket" in failed.value.message
    latest = Journal(cfg.state_dir).latest(cfg.environment)
    assert latest.state == "failed"
    assert_blue_untouched(env)


def test_a_failing_migration_aborts_destroys_green_and_leaves_blue_serving(secrets, tmp_path):
    env = secrets
    bad = tmp_path / "0002_bad.sql"
    bad.write_text("ALTER TABLE no_such_table ADD COLUMN x int;\n")
    cfg = write_config(tmp_path, env.lab, database={
        "migrations": [str(SAMPLE_APP / "schema_v2.sql"), str(bad)]})

    outcome, result, load = under_load(env, lambda: rollout.rollout(cfg, print), rate=30)

    assert isinstance(outcome, rollout.PhaseFailed) and outcome.phase == "schema", outcome
    assert "0002_bad.sql failed on green" in outcome.message
    assert "no_such_table" in outcome.message
    journal = Journal(cfg.state_dir)
    assert journal.rollout(journal.latest(cfg.environment).id).state == "failed"
    assert_clean(result, load)  # blue served every request while green was built and torn down
    assert_blue_untouched(env)
