"""Connections with the session settings replay relies on.

Values travel as text, so both sides must print them the same way: UTC times, ISO
dates, floats with every digit. Every connection greenswap opens says so, none
waits for a lock for longer than 30 seconds, and all may write through a fence.
"""

from __future__ import annotations

import psycopg2
import psycopg2.extras

from orchestrator.errors import ReplayError

# lock_timeout: a replay that waits on someone's lock fails (and resumes on restart)
# instead of hanging without end.
# default_transaction_read_only=off: a fenced database is read-only for everyone
# else (see fence.py); replay, sequences and the fence itself still write.
SESSION = ("-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=3 -c lock_timeout=30s"
           " -c default_transaction_read_only=off")


def first_line(exc: psycopg2.Error) -> str:
    """What an operator reads of a server error: its first line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(dsn: str, purpose: str, replication: bool = False):
    kwargs = {"options": SESSION, "application_name": f"greenswap-{purpose}",
              "connect_timeout": 10}
    if replication:
        kwargs["connection_factory"] = psycopg2.extras.LogicalReplicationConnection
    try:
        return psycopg2.connect(dsn, **kwargs)
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        raise ReplayError(
            f"cannot connect for {purpose}: {first}", "check the DSN and that the server is up"
        ) from None
