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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import GreenswapError, InputError

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


class LockHeld(InputError):
    default_hint = ("wait for it to finish, or if its holder is gone for good, "
                    "'greenswap unlock' (recorded in the journal)")


class LeaseLost(GreenswapError):
    default_hint = "another greenswap took this environment over; check 'greenswap status'"


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


def holder_identity() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


class Journal:
    @classmethod
    def existing(cls, state_dir: Path) -> Journal | None:
        """The journal if there is one: read-only commands must not create it."""
        return cls(state_dir) if (state_dir / "journal.db").exists() else None

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / "journal.db"
        self._local = threading.local()
        self._db().executescript(SCHEMA)
        self.path.chmod(0o600)

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
            return int(cur.lastrowid)

    def record(self, rollout_id: int, phase: str | None, kind: str, message: str,
               **data) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO events (rollout_id, at, phase, kind, message, data)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (rollout_id, time.time(), phase, kind, message, json.dumps(data)))
            if phase is not None and kind == "start":
                db.execute("UPDATE rollouts SET phase = ? WHERE id = ?", (phase, rollout_id))

    def set_state(self, rollout_id: int, state: str, ended: bool = False) -> None:
        with self._tx() as db:
            db.execute("UPDATE rollouts SET state = ?, ended_at = ? WHERE id = ?",
                       (state, time.time() if ended else None, rollout_id))

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
        token = uuid.uuid4().hex
        me = holder_identity()
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT holder, expires_at, rollout_id, host, pid FROM lease"
                             " WHERE environment = ?", (environment,)).fetchone()
            if row is not None and row[1] > now and not _dead_here(row[3], row[4]):
                holder, expires, held_for = row[:3]
                raise LockHeld(f"environment {environment} is locked by {holder}"
                               f" (rollout {held_for}) until its lease expires in"
                               f" {expires - now:.0f}s")
            if row is not None:
                self._note_takeover(db, environment, row[:3], me)
            db.execute("INSERT OR REPLACE INTO lease VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (environment, me, token, rollout_id, now, now + ttl_s,
                        socket.gethostname(), os.getpid()))
        return Lease(self, environment, token, ttl_s)

    def _note_takeover(self, db, environment: str, row, me: str) -> None:
        holder, _expires, held_for = row
        if held_for is not None:
            db.execute("INSERT INTO events (rollout_id, at, phase, kind, message, data)"
                       " VALUES (?, ?, NULL, 'lease', ?, '{}')",
                       (held_for, time.time(),
                        f"lease of {holder} (expired, or its process is gone) taken over"
                        f" by {me} ({environment})"))

    def lease_holder(self, environment: str) -> tuple[str, int | None, float] | None:
        row = self._db().execute("SELECT holder, rollout_id, expires_at FROM lease"
                                 " WHERE environment = ?", (environment,)).fetchone()
        return None if row is None or row[2] <= time.time() else (row[0], row[1], row[2])

    def unlock(self, environment: str, reason: str) -> str | None:
        """Break the lease, whoever holds it; recorded against the rollout it guarded."""
        with self._tx() as db:
            row = db.execute("SELECT holder, expires_at, rollout_id FROM lease"
                             " WHERE environment = ?", (environment,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM lease WHERE environment = ?", (environment,))
            if row[2] is not None:
                db.execute("INSERT INTO events (rollout_id, at, phase, kind, message, data)"
                           " VALUES (?, ?, NULL, 'unlock', ?, '{}')",
                           (row[2], time.time(), f"lease of {row[0]} broken by"
                            f" {holder_identity()}: {reason}"))
            return row[0]

    def _renew(self, environment: str, token: str, ttl_s: float,
               rollout_id: int | None = None) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE lease SET expires_at = ?, rollout_id = coalesce(?, rollout_id)"
                             " WHERE environment = ? AND token = ?",
                             (time.time() + ttl_s, rollout_id, environment, token))
            return cur.rowcount == 1

    def _release(self, environment: str, token: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM lease WHERE environment = ? AND token = ?",
                       (environment, token))


class Lease:
    """A held lease, renewed by a heartbeat thread until released."""

    def __init__(self, journal: Journal, environment: str, token: str, ttl_s: float) -> None:
        self.journal, self.environment, self.token, self.ttl_s = (
            journal, environment, token, ttl_s)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)
        self._thread.start()

    def attach(self, rollout_id: int) -> None:
        self.check()
        if not self.journal._renew(self.environment, self.token, self.ttl_s, rollout_id):
            self.lost.set()
            self.check()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"the lease on environment {self.environment} was lost")

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.journal._renew(self.environment, self.token, self.ttl_s):
                    self.lost.set()
                    return
            except sqlite3.Error:
                continue  # a busy journal: try again at the next beat, well before expiry

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self.lost.is_set():
            self.journal._release(self.environment, self.token)


def _dead_here(host: str, pid: int) -> bool:
    """A holder on this very machine whose process is gone (killed, crashed) need
    not be waited for: its lease can be taken over at once, as an expired one."""
    if host != socket.gethostname() or pid == os.getpid():
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
