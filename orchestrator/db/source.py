"""The database a replay reads from: its publication, its slot, its live rows.

Forward, the source is blue; in reverse, green. Everything here is read-only on
the source's data; the only things it creates are a publication and a logical
replication slot, both named after the stream, and it drops them when asked.
"""

from __future__ import annotations

import time

from orchestrator.db.apply import read_rows
from orchestrator.db.catalog import TableInfo, quote_table, table_info
from orchestrator.db.connect import connect
from orchestrator.errors import ReplayError, ReplayRefused

DROP_DEADLINE_S = 10.0
# Bytes of WAL a slot (named by the parameter) keeps on the source; 0 without a slot.
RETAINED_WAL = ("coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
                " FROM pg_replication_slots WHERE slot_name = %s), 0)")


class SourceDB:
    def __init__(self, dsn: str, stream: str, keys: dict[str, tuple[str, ...]]) -> None:
        self.dsn = dsn
        self.stream = stream
        self.publication = f"{stream}_pub"
        self.conn = connect(dsn, f"read/{stream}")
        self.conn.autocommit = True
        self.keys = keys
        with self.conn.cursor() as cur:
            self.infos = {t: self._checked(cur, t) for t in keys}

    def _checked(self, cur, table: str) -> TableInfo:
        info = table_info(cur, table)
        if info is None:
            raise ReplayRefused(f"source table {table} does not exist")
        key = set(self.keys[table])
        # What the log carries for an update or delete is the replica identity: it
        # must contain the key, or deletes and key changes cannot be found.
        identity = {"d": set(info.primary_key), "i": set(info.identity_index),
                    "f": set(info.columns), "n": set()}[info.replica_identity]
        if not identity:
            raise ReplayRefused(
                f"source table {table} has no primary key or replica identity: its updates "
                "and deletes cannot be replayed",
                f"add a primary key to {table} (or ALTER TABLE {table} REPLICA IDENTITY FULL)",
            )
        if info.replica_identity != "f" and identity != key:
            raise ReplayRefused(
                f"source table {table} identifies rows in its log by {sorted(identity)}, but "
                f"the transform keys it by {sorted(key)}",
                "key the transform by the primary key, or set REPLICA IDENTITY to match",
            )
        return info

    def ensure_publication(self) -> None:
        tables = ", ".join(quote_table(t) for t in self.infos)
        with self.conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,))
            if cur.fetchone() is None:
                # Partitioned tables publish under their own name, as the transform knows them.
                cur.execute(f'CREATE PUBLICATION "{self.publication}" FOR TABLE {tables}'
                            " WITH (publish_via_partition_root = true)")

    def slot_exists(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.stream,))
            return cur.fetchone() is not None

    def drop(self) -> None:
        """Drop the slot (it pins WAL) and the publication. Idempotent."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                " WHERE slot_name = %s AND active_pid IS NOT NULL", (self.stream,))
            # A terminated walsender lets go of its slot a moment later.
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND active_pid IS NULL", (self.stream,))
            deadline = time.monotonic() + DROP_DEADLINE_S
            while self.slot_exists():
                if time.monotonic() > deadline:
                    raise ReplayError(
                        f"slot {self.stream} is still in use after {DROP_DEADLINE_S:g}s",
                        f"drop it by hand: SELECT pg_drop_replication_slot('{self.stream}')",
                    )
                time.sleep(0.05)
                cur.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = %s AND active_pid IS NULL", (self.stream,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{self.publication}"')

    def estimated_rows(self, table: str) -> int:
        """The planner's row estimate: cheap, and good enough for a progress ETA."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class"
                        " WHERE oid = %s::regclass", (quote_table(table),))
            row = cur.fetchone()
        return row[0] if row else 0

    def retained_wal(self) -> int:
        """Bytes of WAL the slot keeps on the source's disk."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT {RETAINED_WAL}", (self.stream,))
            return cur.fetchone()[0]

    def read(self, table: str, keys: list[tuple]) -> dict:
        return read_rows(self.conn, self.infos[table], self.keys[table], keys) if keys else {}

    def replication_connection(self):
        return connect(self.dsn, f"stream/{self.stream}", replication=True)

    def close(self) -> None:
        self.conn.close()
