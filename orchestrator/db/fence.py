"""Fencing a database's writers, and the position that proves nothing came after.

A fence makes the whole cluster read-only for every role and session but
greenswap's own: `default_transaction_read_only` is set in postgresql.auto.conf
(so it survives a restart), and every other client session is terminated and
waited for, so no commit can land after the final position is read. Reads keep
working, so the fenced colour's health checks still pass and a rollback can flip
back to it at once. greenswap's connections set the option off for themselves.

The fence stops writers that take the server's default; a client that explicitly
turns read-write back on in its own session is not stopped (no app does that).

greenswap's role is not a superuser (see playbooks/postgres.yml), so it cannot end
a superuser's session. Those are left alone unless they are in a transaction
begun before the fence (a DBA's open BEGIN, say): its commit could land after the
final position, so the fence fails instead, and the swap aborts and unfences.
"""

from __future__ import annotations

import time

from orchestrator.db.connect import connect
from orchestrator.db.pgoutput import lsn_int
from orchestrator.errors import ReplayError

TERMINATE_WAIT_MS = 2000
SETTLE_S = 2.0

# End every session that is not ours, all at once (pg_terminate_backend's own
# wait polls every 100 ms, one session after another: seconds for a pool of them).
# MATERIALIZED: the planner may otherwise call pg_terminate_backend before the
# other conditions, on our own sessions too.
TERMINATE = """
WITH others AS MATERIALIZED (
    SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND usename <> current_user
      AND usesysid NOT IN (SELECT oid FROM pg_roles WHERE rolsuper))
SELECT coalesce(array_agg(pid), '{}') FROM others WHERE pg_terminate_backend(pid)
"""
# Superusers' sessions that the fence cannot end and that could still commit a
# write: they have written, or sit in a transaction opened before the fence.
SUPERUSER_WRITERS = """
SELECT pid, usename FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND usename <> current_user
  AND usesysid IN (SELECT oid FROM pg_roles WHERE rolsuper)
  AND (backend_xid IS NOT NULL OR state LIKE 'idle in transaction%')
"""
# Then wait until they are gone: a session's last commit, if any, is then in the
# WAL before the final position is written.
STILL_THERE = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"


# Transactions of other sessions that have written (hold an xid) for longer than a
# bound: the fence would end them, rolling back work their clients were not told
# of yet. The cutover waits for them first (cutover.py).
LONG_WRITERS = """
SELECT pid, usename, coalesce(application_name, ''),
       round(extract(epoch FROM now() - xact_start))::int
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND usename <> current_user  -- the sessions the fence would end
  AND backend_xid IS NOT NULL AND xact_start < now() - make_interval(secs => %s)
ORDER BY xact_start
"""


class Fence:
    """One database's fence, over one connection kept open: a swap's pause is made
    of round trips, and a new connection (TCP and SCRAM) costs several."""

    def __init__(self, dsn: str) -> None:
        self.conn = connect(dsn, "fence")
        self.conn.autocommit = True

    def fence(self) -> int:
        """Fence every writer; return the final log position (as an integer LSN).

        The final position is a durable commit of our own, after every fenced
        session's last one: a transactional logical message, which the change log
        carries to the stream as a transaction of its own. Once the stream has
        passed it, it has applied every write blue ever acknowledged, and knows so
        without waiting for a server keepalive."""
        with self.conn.cursor() as cur:
            _set_read_only(cur, True)
            cur.execute(TERMINATE)
            (ended,) = cur.fetchone()
            _wait_gone(cur, ended)
            cur.execute(SUPERUSER_WRITERS)
            if writers := cur.fetchall():
                pid, user = writers[0]
                raise ReplayError(f"fence: superuser {user}'s session (pid {pid}) is in a "
                                  "transaction that greenswap's role cannot end",
                                  "let it finish (or end it); the swap aborts and unfences")
            cur.execute("BEGIN")
            cur.execute("SET LOCAL synchronous_commit = on")
            cur.execute("SELECT pg_logical_emit_message(true, 'greenswap', 'fence')::text")
            (message_lsn,) = cur.fetchone()
            cur.execute("COMMIT")
            return lsn_int(message_lsn)

    def long_writers(self, older_than_s: float) -> list[str]:
        """Sessions whose writing transaction is older than the bound, one line each."""
        with self.conn.cursor() as cur:
            cur.execute(LONG_WRITERS, (older_than_s,))
            return [f"pid {pid} ({user}{' ' + app if app else ''}, open {age}s)"
                    for pid, user, app, age in cur.fetchall()]

    def unfence(self) -> None:
        if self.is_fenced():
            with self.conn.cursor() as cur:
                _set_read_only(cur, False)

    def is_fenced(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute("SELECT coalesce(bool_or(setting = 'on' AND applied), false)"
                        " FROM pg_file_settings WHERE name = 'default_transaction_read_only'")
            return cur.fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def is_fenced(dsn: str) -> bool:
    fence = Fence(dsn)
    try:
        return fence.is_fenced()
    finally:
        fence.close()


def _wait_gone(cur, pids: list[int]) -> None:
    deadline = time.monotonic() + TERMINATE_WAIT_MS / 1000
    while pids:
        cur.execute(STILL_THERE, (pids,))
        (stuck,) = cur.fetchone()
        if not stuck:
            return
        if time.monotonic() > deadline:
            raise ReplayError(f"fence: {stuck} session(s) did not exit within "
                              f"{TERMINATE_WAIT_MS} ms", "the swap aborts and unfences")
        time.sleep(0.002)


def _set_read_only(cur, on: bool) -> None:
    cur.execute("SELECT pg_conf_load_time()")
    (loaded_before,) = cur.fetchone()
    if on:
        cur.execute("ALTER SYSTEM SET default_transaction_read_only = on")
    else:
        cur.execute("ALTER SYSTEM RESET default_transaction_read_only")
    cur.execute("SELECT pg_reload_conf()")
    # The reload is asynchronous. The postmaster reads the files again before it
    # signals the sessions, so once this session has read them again too, every
    # session started from now on has the new default (those already running are
    # ended by the fence). Asked on this connection: a new one per poll would cost
    # a TCP and SCRAM handshake each, inside the swap's pause.
    deadline = time.monotonic() + SETTLE_S
    while True:
        cur.execute("SELECT pg_conf_load_time() > %s", (loaded_before,))
        if cur.fetchone()[0]:
            return
        if time.monotonic() > deadline:
            raise ReplayError("the server did not reload its configuration (default_transaction"
                              f"_read_only={'on' if on else 'off'}) within {SETTLE_S}s",
                              "check the server's log")
        time.sleep(0.002)
