"""The one-rollout-per-environment lease: it names its holder, is renewed by a
heartbeat, and can be taken over once it expires or its holder's process is gone.
Where it lives is a `LeaseStore`: the journal's SQLite (one machine), or DynamoDB
(aws/lease.py, operators on several)."""

from __future__ import annotations

import getpass
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from orchestrator.errors import LeaseLost, LockHeld

LEASE_S = 30.0
SAFE_SHARE = 2 / 3  # unrenewed for this share of the lease, a holder counts it lost
LEASE_TABLE = """
CREATE TABLE IF NOT EXISTS lease (
    environment TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL,
    rollout_id INTEGER, acquired_at REAL NOT NULL, expires_at REAL NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL)
"""


@dataclass(frozen=True)
class TakenOver:
    """A lease taken over from a holder that expired or whose process is gone."""

    holder: str  # "user@host pid N"
    rollout_id: int | None
    pid: int
    acquired_at: float | None  # None: a store that did not keep it
    expires_at: float
    dead: bool  # its process was gone on this machine (else its lease had expired)

    def describe(self, now: float) -> str:
        why = ("its process is gone" if self.dead
               else f"expired {now - self.expires_at:.0f} s ago")
        if self.acquired_at is not None:
            why += f"; it took the lease {now - self.acquired_at:.0f} s ago"
        return f"{self.holder} (rollout {self.rollout_id}; {why})"


def holder_identity() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


class LeaseStore(Protocol):
    """Where the one-rollout-per-environment lease lives: the journal's SQLite (one
    machine) or a DynamoDB table (aws/lease.py, for operators on several)."""

    # Shared by several journals: the rollout numbers in it are not all this one's.
    shared: bool

    def take(self, environment: str, holder: str, rollout_id: int | None,
             ttl_s: float) -> tuple[str, TakenOver | None]:
        """Take the lease, or raise LockHeld naming its holder. Returns a token and,
        when an expired or dead holder's lease was taken over, who that was."""
        ...

    def renew(self, environment: str, token: str, ttl_s: float,
              rollout_id: int | None = None) -> bool:
        """Extend the lease if `token` still holds it; False if it was lost."""
        ...

    def give_back(self, environment: str, token: str) -> None: ...

    def holder(self, environment: str) -> tuple[str, int | None, float] | None:
        """(holder, rollout, expires at) of a live lease, or None."""
        ...

    def break_lease(self, environment: str, note: str) -> tuple[str, int | None] | None:
        """Remove the lease whoever holds it; (holder, rollout) it had, or None. A
        shared store keeps `note` where every machine's operators can read it."""
        ...


class Transactions(Protocol):
    """A SQLite database to keep the lease in, beside other things (the journal)."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error."""
        ...

    def reader(self) -> sqlite3.Connection:
        """This thread's connection, for reads outside a transaction."""
        ...


class SqliteLeases:
    """The lease in the journal's own SQLite: one machine's operators."""

    shared = False

    def __init__(self, db: Transactions) -> None:
        self.db = db
        with db.transaction() as tx:
            tx.execute(LEASE_TABLE)

    def take(self, environment: str, holder: str, rollout_id: int | None,
             ttl_s: float) -> tuple[str, TakenOver | None]:
        token = uuid.uuid4().hex
        now = time.time()
        with self.db.transaction() as db:
            row = db.execute("SELECT holder, expires_at, rollout_id, host, pid, acquired_at"
                             " FROM lease WHERE environment = ?", (environment,)).fetchone()
            dead = row is not None and dead_here(row[3], row[4])
            if row is not None and row[1] > now and not dead:
                raise lock_held(environment, row[0], row[2], row[1] - now)
            db.execute("INSERT OR REPLACE INTO lease VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (environment, holder, token, rollout_id, now, now + ttl_s,
                        socket.gethostname(), os.getpid()))
        if row is None:
            return token, None
        return token, TakenOver(row[0], row[2], row[4], row[5], row[1], dead)

    def renew(self, environment: str, token: str, ttl_s: float,
              rollout_id: int | None = None) -> bool:
        with self.db.transaction() as db:
            cur = db.execute("UPDATE lease SET expires_at = ?, rollout_id = coalesce(?, rollout_id)"
                             " WHERE environment = ? AND token = ?",
                             (time.time() + ttl_s, rollout_id, environment, token))
            return cur.rowcount == 1

    def give_back(self, environment: str, token: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM lease WHERE environment = ? AND token = ?",
                       (environment, token))

    def holder(self, environment: str) -> tuple[str, int | None, float] | None:
        row = self.db.reader().execute("SELECT holder, rollout_id, expires_at FROM lease"
                                         " WHERE environment = ?", (environment,)).fetchone()
        return None if row is None or row[2] <= time.time() else (row[0], row[1], row[2])

    def break_lease(self, environment: str, note: str) -> tuple[str, int | None] | None:
        # The note goes to the journal's rollout (Journal.unlock): the ids are ours.
        with self.db.transaction() as db:
            row = db.execute("SELECT holder, rollout_id FROM lease WHERE environment = ?",
                             (environment,)).fetchone()
            db.execute("DELETE FROM lease WHERE environment = ?", (environment,))
        return None if row is None else (row[0], row[1])


def lock_held(environment: str, holder: str, rollout_id: int | None,
              expires_in: float) -> LockHeld:
    return LockHeld(f"environment {environment} is locked by {holder} (rollout {rollout_id})"
                    f" until its lease expires in {expires_in:.0f}s")


class Lease:
    """A held lease, renewed by a heartbeat thread until released."""

    def __init__(self, store: LeaseStore, environment: str, token: str, ttl_s: float,
                 taken_over: TakenOver | None = None) -> None:
        self.store, self.environment, self.token, self.ttl_s = (store, environment, token, ttl_s)
        self.taken_over = taken_over  # whose lease this was, if it was taken over
        self.lost = threading.Event()
        self.on_attach: Callable[[int], None] | None = None  # once, at the first attach
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)
        self._thread.start()

    def attach(self, rollout_id: int) -> None:
        self.check()
        if not self.store.renew(self.environment, self.token, self.ttl_s, rollout_id):
            self.lost.set()
            self.check()
        self._renewed = time.monotonic()
        if self.on_attach is not None:
            note, self.on_attach = self.on_attach, None
            note(rollout_id)

    def check(self) -> None:
        if self.lost.is_set() or time.monotonic() - self._renewed > self.ttl_s * SAFE_SHARE:
            self.lost.set()
            raise LeaseLost(f"the lease on environment {self.environment} was lost")

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.store.renew(self.environment, self.token, self.ttl_s):
                    self.lost.set()
                    return
                self._renewed = time.monotonic()
            except Exception:  # noqa: BLE001 (a busy journal, a network blip: retried)
                # Not renewed for most of a lease: another greenswap may take it any
                # moment now, so this one must stop acting as if it held it.
                if time.monotonic() - self._renewed > self.ttl_s * SAFE_SHARE:
                    self.lost.set()
                    return

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self.lost.is_set():
            self.store.give_back(self.environment, self.token)


def dead_here(host: str, pid: int, here: str | None = None) -> bool:
    """A holder on this very machine (`here`, by default its host name) whose process
    is gone (killed, crashed) need not be waited for: its lease can be taken over at
    once, as an expired one."""
    if host != (here or socket.gethostname()) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
