"""greenswap's database role has only what replay and the fence need: no superuser
(playbooks/postgres.yml lists each grant and why). Checked on the lab's blue
database as playbooks/postgres.yml built it."""

from __future__ import annotations

import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from orchestrator.db.fence import Fence
from orchestrator.errors import ReplayError
from tests.lab_rollout import admin_dsn, db_record

pytestmark = pytest.mark.lab

# A superuser's session in a transaction begun before the fence, that has not written
# yet (no xid) but will, on the database host itself.
HELD = ("runuser -u postgres -- psql -X -q -d app -c 'BEGIN' -c 'SELECT pg_sleep(6)'"
        " -c 'CREATE TEMP TABLE held (x int)' -c 'COMMIT'")


def admin(env) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(admin_dsn(env))
    conn.autocommit = True
    return conn


def test_the_role_is_no_superuser_and_cannot_act_as_one(secrets):
    conn = admin(secrets)
    try:
        cur = conn.cursor()
        cur.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
                    " FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False, False, True)
        for statement in ("ALTER SYSTEM SET work_mem = '1GB'", "CREATE ROLE intruder",
                          "CREATE DATABASE other", "SELECT pg_read_file('/etc/passwd')",
                          "COPY (SELECT 1) TO PROGRAM 'true'",
                          "SET log_statement = 'none'"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
        # What it was granted, and uses: replay's setting, the fence's view.
        cur.execute("SET session_replication_role = replica")
        cur.execute("SELECT count(*) FROM pg_file_settings")
    finally:
        conn.close()


def test_a_superusers_open_transaction_stops_the_fence_which_unfences(secrets):
    """The fence cannot end a superuser's session: one in a transaction could commit
    a write after the final position (even one that has not written yet), so the
    fence waits a moment, then fails (and the swap aborts) instead."""
    env = secrets
    conn = admin(env)
    said: list = []
    with env.shell(db_record(env).name) as shell:
        holder = threading.Thread(target=lambda: said.append(shell.run(HELD, timeout=30)))
        holder.start()
        try:
            until = time.monotonic() + 10
            with conn.cursor() as cur:
                while time.monotonic() < until:
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'postgres'"
                                " AND xact_start IS NOT NULL AND query LIKE '%pg_sleep%'")
                    if cur.fetchone()[0]:
                        break
                    time.sleep(0.05)
            fence = Fence(admin_dsn(env))
            try:
                with pytest.raises(ReplayError, match="superuser postgres"):
                    fence.fence()
                fence.unfence()  # as the swap's abort does
                assert not fence.is_fenced()
            finally:
                fence.close()
        finally:
            holder.join(timeout=40)
            conn.close()
    assert said and said[0].ok, said  # its transaction was not ended: it committed
