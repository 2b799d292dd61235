"""The journal: every rollout, every step and event, and the one-rollout lease.

SQLite in the state directory, written synchronously, so a rollout killed at any
instant restarts from what the journal says was done (`resume`), and `history`
shows the audit trail. The lease makes one rollout per environment: it names its
holder, is renewed by a heartbeat, and can be taken over once it expires.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from orchestrator.errors import InputError, LeaseLost, LockHeld, OutOfOrder

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY, environment TEXT NOT NULL, started_at REAL NOT NULL,
    ended_at REAL, state TEXT NOT NULL, phase TEXT, facts TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, rollout_id INTEGER NOT NULL, at REAL NOT NULL,
    phase TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS lease (
    environment TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL,
    rollout_id INTEGER, acquired_at REAL NOT NULL, expires_at REAL NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL);
"""
LEASE_S = 30.0
SAFE_SHARE = 2 / 3  # unrenewed for this share of the lease, a holder counts it lost


class Phase(StrEnum):
    """The runbook's phases, in the order they run (rollout.py runs them): a phase
    runs only once every phase before it is done."""

    PREFLIGHT = "preflight"
    PROVISION = "provision"
    PATCH = "patch"
    DEPLOY = "deploy"
    SCHEMA = "schema"
    SYNC = "sync"
    VERIFY = "verify"
    CUTOVER = "cutover"
    BAKE = "bake"
    RETIRE = "retire"


PHASES = tuple(Phase)


class RolloutState(StrEnum):
    """A rollout's state as the journal keeps it (the text is what the journal holds).
    It only moves forward: once a rollout has ended, its state is final."""

    RUNNING = "running"
    FAILED_CUTOVER = "failed-cutover"  # blue serves; green kept; 'resume' tries again
    BAKED = "baked"  # green live; blue kept until retire.keep_blue_s
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True)
class Rollout:
    id: int
    environment: str
    started_at: float
    ended_at: float | None
    state: str
    phase: str | None
    facts: dict


@dataclass(frozen=True)
class Event:
    rollout_id: int
    at: float
    phase: str | None
    kind: str
    message: str
    data: dict


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


class Journal:
    @classmethod
    def existing(cls, state_dir: Path) -> Journal | None:
        """The journal if there is one: read-only commands must not create it."""
        return cls(state_dir) if (state_dir / "journal.db").exists() else None

    def __init__(self, state_dir: Path, leases: LeaseStore | None = None) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / "journal.db"
        self._local = threading.local()
        self._db().executescript(SCHEMA)
        self.path.chmod(0o600)
        self.leases = leases if leases is not None else SqliteLeases(self)

    def _db(self) -> sqlite3.Connection:
        # One connection per thread: the lease heartbeat writes from its own.
        if getattr(self._local, "db", None) is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a step recorded is a step on disk
            self._local.db = db
        return self._local.db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- rollouts and events ------------------------------------------------

    def start(self, environment: str, facts: dict) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO rollouts (environment, started_at, state, facts)"
                             " VALUES (?, ?, 'running', ?)",
                             (environment, time.time(), json.dumps(facts)))
            assert cur.lastrowid is not None  # every INSERT sets it
            return cur.lastrowid

    def record(self, rollout_id: int, phase: str | None, kind: str, message: str,
               **data) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO events (rollout_id, at, phase, kind, message, data)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (rollout_id, time.time(), phase, kind, message, json.dumps(data)))
            if phase is not None and kind == "start":
                db.execute("UPDATE rollouts SET phase = ? WHERE id = ?", (phase, rollout_id))

    def set_state(self, rollout_id: int, state: RolloutState, ended: bool = False) -> None:
        """Raises OutOfOrder on an ended rollout: its state is final."""
        with self._tx() as db:
            changed = db.execute("UPDATE rollouts SET state = ?, ended_at = ? WHERE id = ?"
                                 " AND ended_at IS NULL",
                                 (state, time.time() if ended else None, rollout_id)).rowcount
        if not changed:
            ended_as = self.rollout(rollout_id).state  # or InputError: no such rollout
            raise OutOfOrder(f"rollout {rollout_id} has ended ({ended_as}); its state cannot"
                             f" become {state}")

    def update_facts(self, rollout_id: int, **facts) -> dict:
        with self._tx() as db:
            (raw,) = db.execute("SELECT facts FROM rollouts WHERE id = ?",
                                (rollout_id,)).fetchone()
            merged = {**json.loads(raw), **facts}
            db.execute("UPDATE rollouts SET facts = ? WHERE id = ?",
                       (json.dumps(merged), rollout_id))
            return merged

    def rollout(self, rollout_id: int) -> Rollout:
        row = self._db().execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
        if row is None:
            raise InputError(f"rollout: no rollout {rollout_id} in {self.path}")
        return _rollout(row)

    def latest(self, environment: str) -> Rollout | None:
        row = self._db().execute("SELECT * FROM rollouts WHERE environment = ?"
                                 " ORDER BY id DESC LIMIT 1", (environment,)).fetchone()
        return _rollout(row) if row else None

    def history(self, environment: str, limit: int = 20) -> list[Rollout]:
        rows = self._db().execute("SELECT * FROM rollouts WHERE environment = ?"
                                  " ORDER BY id DESC LIMIT ?", (environment, limit)).fetchall()
        return [_rollout(r) for r in rows]

    def events(self, rollout_id: int) -> list[Event]:
        rows = self._db().execute("SELECT rollout_id, at, phase, kind, message, data FROM events"
                                  " WHERE rollout_id = ? ORDER BY id", (rollout_id,)).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def done_phases(self, rollout_id: int) -> set[str]:
        rows = self._db().execute("SELECT phase FROM events WHERE rollout_id = ? AND"
                                  " kind = 'done'", (rollout_id,)).fetchall()
        return {r[0] for r in rows}

    # -- the lease ----------------------------------------------------------

    def acquire(self, environment: str, rollout_id: int | None, ttl_s: float = LEASE_S) -> Lease:
        me = holder_identity()
        token, previous = self.leases.take(environment, me, rollout_id, ttl_s)
        lease = Lease(self.leases, environment, token, ttl_s, previous)
        if previous is not None:
            note = (f"lease of {previous.describe(time.time())} taken over by {me} "
                    f"({environment})")
            if not self.leases.shared and previous.rollout_id is not None:
                self.record(previous.rollout_id, None, "lease", note)  # theirs is in here
            else:
                # A shared store's rollout numbers are another journal's: the note goes
                # to the rollout that took the lease over, once it has one.
                lease.on_attach = lambda rid: self.record(rid, None, "lease", note)
                if rollout_id is not None:
                    lease.attach(rollout_id)
        return lease

    def lease_holder(self, environment: str) -> tuple[str, int | None, float] | None:
        return self.leases.holder(environment)

    def unlock(self, environment: str, reason: str) -> str | None:
        """Break the lease, whoever holds it; recorded against the rollout it guarded."""
        broken = self.leases.break_lease(environment, f"broken by {holder_identity()}: {reason}")
        if broken is None:
            return None
        holder, rollout_id = broken
        if not self.leases.shared and rollout_id is not None:
            self.record(rollout_id, None, "unlock",
                        f"lease of {holder} broken by {holder_identity()}: {reason}")
        return holder


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


class SqliteLeases:
    shared = False

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def take(self, environment: str, holder: str, rollout_id: int | None,
             ttl_s: float) -> tuple[str, TakenOver | None]:
        token = uuid.uuid4().hex
        now = time.time()
        with self.journal._tx() as db:
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
        with self.journal._tx() as db:
            cur = db.execute("UPDATE lease SET expires_at = ?, rollout_id = coalesce(?, rollout_id)"
                             " WHERE environment = ? AND token = ?",
                             (time.time() + ttl_s, rollout_id, environment, token))
            return cur.rowcount == 1

    def give_back(self, environment: str, token: str) -> None:
        with self.journal._tx() as db:
            db.execute("DELETE FROM lease WHERE environment = ? AND token = ?",
                       (environment, token))

    def holder(self, environment: str) -> tuple[str, int | None, float] | None:
        row = self.journal._db().execute("SELECT holder, rollout_id, expires_at FROM lease"
                                         " WHERE environment = ?", (environment,)).fetchone()
        return None if row is None or row[2] <= time.time() else (row[0], row[1], row[2])

    def break_lease(self, environment: str, note: str) -> tuple[str, int | None] | None:
        # The note goes to the journal's rollout (Journal.unlock): the ids are ours.
        with self.journal._tx() as db:
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


def _rollout(row) -> Rollout:
    return Rollout(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))
