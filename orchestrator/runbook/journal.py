"""The journal: every rollout, every step and event.

SQLite in the state directory, written synchronously, so a rollout killed at any
instant restarts from what the journal says was done (`resume`), and `history`
shows the audit trail. The lease (lease.py) keeps one rollout per environment; by
default it lives in the journal's database, through `transaction`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import InputError, OutOfOrder
from orchestrator.lease import LEASE_S, Lease, LeaseStore, SqliteLeases, holder_identity
from orchestrator.rollouts import Event, Rollout, RolloutState

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY, environment TEXT NOT NULL, started_at REAL NOT NULL,
    ended_at REAL, state TEXT NOT NULL, phase TEXT, facts TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, rollout_id INTEGER NOT NULL, at REAL NOT NULL,
    phase TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}');
"""


class Journal:
    @classmethod
    def existing(cls, state_dir: Path) -> Journal | None:
        """The journal if there is one: read-only commands must not create it."""
        return cls(state_dir) if (state_dir / "journal.db").exists() else None

    def __init__(self, state_dir: Path, leases: LeaseStore | None = None) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / "journal.db"
        self._local = threading.local()
        self.reader().executescript(SCHEMA)
        self.path.chmod(0o600)
        self.leases = leases if leases is not None else SqliteLeases(self)

    def reader(self) -> sqlite3.Connection:
        # One connection per thread: the lease heartbeat writes from its own.
        if getattr(self._local, "db", None) is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a step recorded is a step on disk
            self._local.db = db
        return self._local.db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.reader()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- rollouts and events ------------------------------------------------

    def start(self, environment: str, facts: dict) -> int:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO rollouts (environment, started_at, state, facts)"
                             " VALUES (?, ?, 'running', ?)",
                             (environment, time.time(), json.dumps(facts)))
            assert cur.lastrowid is not None  # every INSERT sets it
            return cur.lastrowid

    def record(self, rollout_id: int, phase: str | None, kind: str, message: str,
               **data) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO events (rollout_id, at, phase, kind, message, data)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (rollout_id, time.time(), phase, kind, message, json.dumps(data)))
            if phase is not None and kind == "start":
                db.execute("UPDATE rollouts SET phase = ? WHERE id = ?", (phase, rollout_id))

    def set_state(self, rollout_id: int, state: RolloutState, ended: bool = False) -> None:
        """Raises OutOfOrder on an ended rollout: its state is final."""
        with self.transaction() as db:
            changed = db.execute("UPDATE rollouts SET state = ?, ended_at = ? WHERE id = ?"
                                 " AND ended_at IS NULL",
                                 (state, time.time() if ended else None, rollout_id)).rowcount
        if not changed:
            ended_as = self.rollout(rollout_id).state  # or InputError: no such rollout
            raise OutOfOrder(f"rollout {rollout_id} has ended ({ended_as}); its state cannot"
                             f" become {state}")

    def update_facts(self, rollout_id: int, **facts) -> dict:
        with self.transaction() as db:
            (raw,) = db.execute("SELECT facts FROM rollouts WHERE id = ?",
                                (rollout_id,)).fetchone()
            merged = {**json.loads(raw), **facts}
            db.execute("UPDATE rollouts SET facts = ? WHERE id = ?",
                       (json.dumps(merged), rollout_id))
            return merged

    def rollout(self, rollout_id: int) -> Rollout:
        row = self.reader().execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
        if row is None:
            raise InputError(f"rollout: no rollout {rollout_id} in {self.path}")
        return _rollout(row)

    def latest(self, environment: str) -> Rollout | None:
        row = self.reader().execute("SELECT * FROM rollouts WHERE environment = ?"
                                 " ORDER BY id DESC LIMIT 1", (environment,)).fetchone()
        return _rollout(row) if row else None

    def history(self, environment: str, limit: int = 20) -> list[Rollout]:
        rows = self.reader().execute("SELECT * FROM rollouts WHERE environment = ?"
                                  " ORDER BY id DESC LIMIT ?", (environment, limit)).fetchall()
        return [_rollout(r) for r in rows]

    def events(self, rollout_id: int) -> list[Event]:
        rows = self.reader().execute("SELECT rollout_id, at, phase, kind, message, data FROM events"
                                  " WHERE rollout_id = ? ORDER BY id", (rollout_id,)).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def done_phases(self, rollout_id: int) -> set[str]:
        rows = self.reader().execute("SELECT phase FROM events WHERE rollout_id = ? AND"
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


def _rollout(row) -> Rollout:
    return Rollout(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))
