"""A blue database greenswap did not build: preflight names, one line each, all that
it lacks (settings, the role's grants, a key), and `greenswap db prepare --apply`
(the same role template postgres.yml applies) plus a restart makes it ready."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from orchestrator.db.schema import readiness
from tests.pg import Cluster
from tests.sample_app import LEDGER, sample_doc

TABLES = ["clients"]


@pytest.fixture
def bare():
    """PostgreSQL as a distribution leaves it (wal_level replica), with the app's
    table (no key yet) and greenswap's role able to log in, and nothing more."""
    cluster = Cluster("bare", {"wal_level": "replica"})
    try:
        cluster.start()
        cluster.sql("CREATE ROLE clerk LOGIN; CREATE ROLE gsadmin LOGIN;"
                    " CREATE TABLE clients (id int, name text); ALTER TABLE clients OWNER TO clerk;"
                    " GRANT SELECT ON clients TO gsadmin")
        yield cluster
    finally:
        cluster.destroy()


def test_prepare_makes_a_bare_database_ready(bare, tmp_path):
    dsn = f"host=127.0.0.1 port={bare.port} dbname=postgres user=gsadmin"
    lacks = readiness(dsn, TABLES, 1024, "clerk")
    assert lacks == [
        "blue table clients has no primary key or replica identity: add a key, or ALTER"
        " TABLE clients REPLICA IDENTITY FULL",
        "wal_level is replica: set it to logical (a restart)",
        "greenswap's role lacks the REPLICATION attribute, membership of the app's role,"
        " pg_signal_backend, pg_read_all_stats, ALTER SYSTEM on"
        " default_transaction_read_only, SET on session_replication_role, EXECUTE on"
        " pg_reload_conf(), SELECT on pg_file_settings"]

    doc = sample_doc(LEDGER)
    doc.update(state_dir=str(tmp_path / "state"))
    doc["database"].update(dbname="postgres", port=bare.port)
    config = tmp_path / "rollout.yml"
    config.write_text(yaml.safe_dump(doc))
    printed = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "prepare", "-c",
                              str(config)], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert 'GRANT "clerk", pg_signal_backend, pg_read_all_stats TO "gsadmin";' in printed.stdout
    assert "PASSWORD" not in printed.stdout  # printed SQL never carries a secret

    applied = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "db", "prepare", "-c", str(config),
         "--apply", "--superuser-dsn", bare.dsn()], capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    assert "wal_level set to logical: restart PostgreSQL" in applied.stderr
    bare.stop()
    bare.start_again()
    bare.sql("ALTER TABLE clients ADD PRIMARY KEY (id)")
    assert readiness(dsn, TABLES, 1024, "clerk") == []
