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


def check_followable(dsn: str, tables: Iterable[str], max_slot_wal_mb: int) -> None:
    """Every one of `tables` can be replayed, and the database's WAL can hold a slot."""
    conn = connect(dsn, "preflight")
    try:
        with conn.cursor() as cur:
            for table in tables:
                info = table_info(cur, table)
                if info is None:
                    raise PreflightFailed(f"database.transform: blue has no table {table}")
                if info.replica_identity == "n" or (
                        info.replica_identity == "d" and not info.primary_key):
                    raise ReplayRefused(
                        f"blue table {table} has no primary key or replica identity",
                        f"add a primary key, or ALTER TABLE {table} REPLICA IDENTITY FULL")
            cur.execute("SHOW wal_level")
            if cur.fetchone()[0] != "logical":
                raise PreflightFailed("blue's wal_level is not logical",
                                      "set wal_level = logical and restart blue's database")
            cur.execute("SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(),"
                        " restart_lsn)::bigint FROM pg_replication_slots")
            cap = max_slot_wal_mb << 20
            for slot, retained in cur.fetchall():
                if (retained or 0) > cap // 2:
                    raise PreflightFailed(
                        f"slot {slot} on blue already retains {retained >> 20} MiB of WAL,"
                        f" over half of database.max_slot_wal_mb",
                        "drop the stale slot (pg_drop_replication_slot) or raise the cap")
    finally:
        conn.close()


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
