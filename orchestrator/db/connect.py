"""Connections with the session settings replay relies on.

Values travel as text, so both sides must print them the same way: UTC times, ISO
dates, floats with every digit. Every connection greenswap opens says so.
"""

from __future__ import annotations

import psycopg2
import psycopg2.extras

from orchestrator.errors import ReplayError

SESSION = "-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=3"


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
