"""One point in the source's change log, and the source exactly as of it.

A temporary logical slot created with `(SNAPSHOT 'export')` answers both at once:
its consistent point (an LSN) and a snapshot that sees exactly the transactions
that committed before that point in the log, none after (PostgreSQL builds the
exported snapshot from the decoder's own list of committed transactions, not from
which sessions have finished: docs, "Exported Snapshots" and CREATE_REPLICATION_SLOT).
The slot is only a way to get them: it is temporary, so it goes with its
connection, and it never pins WAL beyond that.

The snapshot lives while the slot's connection is open and idle. Importing it
(`SET TRANSACTION SNAPSHOT`) into a REPEATABLE READ transaction keeps it for as
long as that transaction lasts, so the connection is closed right after.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from orchestrator.db.connect import connect
from orchestrator.db.pgoutput import lsn_int
from orchestrator.errors import ReplayError

# Creating the slot waits until every transaction running on the source has ended
# (the decoder needs a consistent start): a transaction left open blocks it.
POINT_DEADLINE_S = 60.0


@dataclass(frozen=True)
class Point:
    lsn: int  # the consistent point: commits at or before it are in `snapshot`
    snapshot: str  # an exported snapshot's name, importable while the slot lives


@contextmanager
def point_in_log(dsn: str, slot: str, deadline_s: float = POINT_DEADLINE_S):
    """A fresh point and its snapshot on the database at `dsn`; import the snapshot
    inside the `with`: it is gone once it ends."""
    repl = connect(dsn, f"point/{slot}", replication=True)
    timer = threading.Timer(deadline_s, repl.cancel)
    timer.start()
    try:
        with repl.cursor() as cur:
            try:
                cur.execute(f'CREATE_REPLICATION_SLOT "{slot}" TEMPORARY LOGICAL pgoutput'
                            " (SNAPSHOT 'export')")
            except psycopg2.extensions.QueryCanceledError:
                raise ReplayError(
                    f"no consistent point on the source within {deadline_s:g}s: a"
                    " transaction open that long keeps it from being taken",
                    "find it in pg_stat_activity (xact_start) and end it, then verify again",
                ) from None
            _slot, lsn, snapshot, _plugin = cur.fetchone()
        timer.cancel()
        yield Point(lsn_int(lsn), snapshot)
    finally:
        timer.cancel()
        repl.close()  # the temporary slot goes with it
