"""Fencing a database's writers, and the position that proves nothing came after.

A fence makes the whole cluster read-only for every role and session but
greenswap's own: `default_transaction_read_only` is set in postgresql.auto.conf
(so it survives a restart), and every other role's client sessions are terminated
and waited for, so no commit can land after the final position is read. Reads keep
working, so the fenced colour's health checks still pass and a rollback can flip
back to it at once. greenswap's connections set the option off for themselves.

The fence stops writers that take the server's default; a client that explicitly
turns read-write back on in its own session is not stopped (no app does that).

greenswap's role is not a superuser (see playbooks/postgres.yml), so it cannot end
a superuser's session. Those are left alone, and get the read-only default from
their next transaction on; but one inside a transaction (a DBA's open BEGIN, a
job's statement) could still commit after the final position. The fence waits a
moment for such transactions to end, then fails: the swap aborts and unfences.
"""

from __future__ import annotations

import time

from orchestrator.db.connect import connect
from orchestrator.db.pgoutput import lsn_int
from orchestrator.errors import ReplayError
from orchestrator.retry import poll_until

TERMINATE_WAIT_MS = 2000
SETTLE_S = 2.0

# End every session that is not ours, all at once (pg_terminate_backend's own
# wait polls every 100 ms, one session after another: seconds for a pool of them).
# MATERIALIZED: the planner may otherwise call pg_terminate_backend before the
# other conditions, on our own sessions too.
# Other roles' client sessions (greenswap's own, and this one, are never touched).
OTHERS = ("backend_type = 'client backend' AND pid <> pg_backend_pid()"
          " AND usename <> current_user")
SUPERUSERS = "(SELECT oid FROM pg_roles WHERE rolsuper)"
TERMINATE = f"""
WITH others AS MATERIALIZED (
    SELECT pid FROM pg_stat_activity
    WHERE {OTHERS} AND usesysid NOT IN {SUPERUSERS})
SELECT coalesce(array_agg(pid), '{{}}') FROM others WHERE pg_terminate_backend(pid)
"""
# Superusers' sessions inside a transaction that can still commit: begun before
# the fence, it may write (or already has) whatever the default now says.
SUPERUSER_TRANSACTIONS = f"""
SELECT pid, usename FROM pg_stat_activity
WHERE {OTHERS} AND usesysid IN {SUPERUSERS}
  AND xact_start IS NOT NULL AND state IS DISTINCT FROM 'idle in transaction (aborted)'
"""
# Then wait until they are gone: a session's last commit, if any, is then in the
# WAL before the final position is written.
STILL_THERE = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"


# Transactions of other sessions that have written (hold an xid) for longer than a
# bound: the fence would end them, rolling back work their clients were not told
# of yet (or, a superuser's, fail on them). The cutover waits for them first.
LONG_WRITERS = f"""
SELECT pid, usename, coalesce(application_name, ''),
       round(extract(epoch FROM now() - xact_start))::int
FROM pg_stat_activity
WHERE {OTHERS}
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
            _wait_for_superusers(cur)
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


def _wait_for_superusers(cur) -> None:
    def open_transactions() -> list:
        cur.execute(SUPERUSER_TRANSACTIONS)
        return cur.fetchall()

    waited = poll_until(open_transactions, lambda found: not found,
                        TERMINATE_WAIT_MS / 1000, 0.005)
    if not waited.done:
        pid, user = waited.last[0]
        raise ReplayError(f"fence: superuser {user}'s session (pid {pid}) stayed in a "
                          f"transaction for {TERMINATE_WAIT_MS} ms, and greenswap's role "
                          "cannot end it", "let it finish (or end it); the swap aborts "
                          "and unfences")


def _set_read_only(cur, on: bool) -> None:
    if on:
        cur.execute("ALTER SYSTEM SET default_transaction_read_only = on")
    else:
        cur.execute("ALTER SYSTEM RESET default_transaction_read_only")
    cur.execute("SELECT clock_timestamp(), pg_reload_conf()")
    (asked_at, _) = cur.fetchone()
    # The reload is asynchronous. The postmaster reads the files again before it
    # signals the sessions, so once this session has read them again after the
    # request, every session started from then on has the new default (other roles'
    # sessions already running are ended; superusers' take it at their next
    # transaction). Asked on this connection: a new one per poll would cost a TCP
    # and SCRAM handshake each, inside the swap's pause.
    def reloaded() -> bool:
        cur.execute("SELECT pg_conf_load_time() > %s", (asked_at,))
        return bool(cur.fetchone()[0])

    if not poll_until(reloaded, bool, SETTLE_S, 0.002).done:
        raise ReplayError("the server did not reload its configuration (default_transaction"
                          f"_read_only={'on' if on else 'off'}) within {SETTLE_S}s",
                          "check the server's log")
