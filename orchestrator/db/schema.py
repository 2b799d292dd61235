"""A colour's database as a swap of databases needs it: the source can be followed
(every table the transform reads has a key, WAL is logical, a slot has room), and
the target gets its migrations, each once, as the app's role."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psycopg2

from orchestrator.db.catalog import quote_ident, table_info
from orchestrator.db.connect import connect, first_line
from orchestrator.errors import PreflightFailed, ReplayRefused

MIGRATIONS = """
CREATE SCHEMA IF NOT EXISTS greenswap;
CREATE TABLE IF NOT EXISTS greenswap.migrations (
    name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
"""


# What greenswap's role needs on blue, checked as that role (the grants themselves
# are in playbooks/templates/greenswap-role.sql.j2, with why): (SQL true when held,
# what is missing).
ROLE_NEEDS = (
    ("(SELECT rolreplication FROM pg_roles WHERE rolname = current_user)",
     "the REPLICATION attribute"),
    ("pg_has_role(current_user, %(app)s, 'MEMBER')", "membership of the app's role"),
    ("pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')", "pg_signal_backend"),
    ("pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')", "pg_read_all_stats"),
    ("has_parameter_privilege('default_transaction_read_only', 'ALTER SYSTEM')",
     "ALTER SYSTEM on default_transaction_read_only"),
    ("has_parameter_privilege('session_replication_role', 'SET')",
     "SET on session_replication_role"),
    ("has_function_privilege('pg_reload_conf()', 'EXECUTE')", "EXECUTE on pg_reload_conf()"),
    ("has_table_privilege('pg_file_settings', 'SELECT')", "SELECT on pg_file_settings"),
)
PREPARE = "'greenswap db prepare -c FILE' prints the SQL and settings that fix it"


def readiness(dsn: str, tables: Iterable[str], max_slot_wal_mb: int, app_user: str
              ) -> list[str]:
    """What the database lacks for replay and the fence, asked as greenswap's role:
    one line each, naming what to change; empty when it is ready."""
    conn = connect(dsn, "preflight")
    lacks: list[str] = []
    try:
        with conn.cursor() as cur:
            for table in tables:
                info = table_info(cur, table)
                if info is None:
                    lacks.append(f"blue has no table {table} (database.transform reads it)")
                elif info.replica_identity == "n" or (
                        info.replica_identity == "d" and not info.primary_key):
                    lacks.append(f"blue table {table} has no primary key or replica identity:"
                                 f" add a key, or ALTER TABLE {table} REPLICA IDENTITY FULL")
            cur.execute("SELECT current_setting('wal_level'),"
                        " current_setting('max_replication_slots')::int"
                        "   - (SELECT count(*) FROM pg_replication_slots),"
                        " current_setting('max_wal_senders')::int"
                        "   - (SELECT count(*) FROM pg_stat_replication)")
            wal_level, free_slots, free_senders = cur.fetchone()
            if wal_level != "logical":
                lacks.append(f"wal_level is {wal_level}: set it to logical (a restart)")
            # Replay's stream takes one of each, and verify's point one more for a moment.
            if free_slots < 2:
                lacks.append(f"{free_slots} free replication slot(s), replay and verify need 2:"
                             " raise max_replication_slots (a restart)")
            if free_senders < 2:
                lacks.append(f"{free_senders} free WAL sender(s), replay and verify need 2:"
                             " raise max_wal_senders (a restart)")
            cur.execute("SELECT " + ", ".join(sql for sql, _ in ROLE_NEEDS), {"app": app_user})
            held = cur.fetchone()
            missing = [what for (_sql, what), ok in zip(ROLE_NEEDS, held, strict=True) if not ok]
            if missing:
                lacks.append(f"greenswap's role lacks {', '.join(missing)}")
            cur.execute("SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(),"
                        " restart_lsn)::bigint FROM pg_replication_slots")
            cap = max_slot_wal_mb << 20
            for slot, retained in cur.fetchall():
                if (retained or 0) > cap // 2:
                    lacks.append(f"slot {slot} already retains {retained >> 20} MiB of WAL, over"
                                 " half of database.max_slot_wal_mb: drop it"
                                 " (pg_drop_replication_slot) or raise the cap")
    finally:
        conn.close()
    return lacks


def check_followable(dsn: str, tables: Iterable[str], max_slot_wal_mb: int,
                     app_user: str) -> None:
    """Blue can be followed, or one error naming everything it lacks."""
    lacks = readiness(dsn, list(tables), max_slot_wal_mb, app_user)
    if any("no primary key" in line for line in lacks):
        raise ReplayRefused("blue is not ready: " + "; ".join(lacks), PREPARE)
    if lacks:
        raise PreflightFailed("blue is not ready: " + "; ".join(lacks), PREPARE)


def migrate(dsn: str, migrations: Sequence[Path], app_user: str,
            applied: Callable[[str], None]) -> None:
    """Each migration once, in order; `applied(name)` for each that ran now."""
    conn = connect(dsn, "migrations")
    try:
        with conn.cursor() as cur:
            cur.execute(MIGRATIONS)
            conn.commit()
            for path in migrations:
                if _migrate(conn, cur, path.name, path.read_text(), app_user):
                    applied(path.name)
    finally:
        conn.close()


def _migrate(conn, cur, name: str, text: str, app_user: str) -> bool:
    """One migration, committed with its record, unless it was applied already;
    True if it ran now."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    cur.execute("SELECT sha256 FROM greenswap.migrations WHERE name = %s", (name,))
    row = cur.fetchone()
    if row and row[0] != digest:
        raise PreflightFailed(f"database.migrations: {name} changed after it was applied"
                              " to green", "add a new migration file")
    if row:
        return False
    try:
        # The app owns what it uses; greenswap's role only applies it.
        cur.execute(f"SET LOCAL ROLE {quote_ident(app_user)}")
        cur.execute(text)
        cur.execute("RESET ROLE")
        cur.execute("INSERT INTO greenswap.migrations (name, sha256) VALUES (%s, %s)",
                    (name, digest))
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise PreflightFailed(f"database.migrations: {name} failed on green: "
                              f"{first_line(exc)}") from None
    return True
