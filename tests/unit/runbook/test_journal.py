"""The journal and the one-rollout lease, on a real SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.errors import LockHeld
from orchestrator.lease import holder_identity
from orchestrator.runbook.journal import Journal


def test_a_second_rollout_is_refused_with_the_holders_identity(tmp_path):
    journal = Journal(tmp_path)
    first = journal.acquire("prod", 7)
    try:
        with pytest.raises(LockHeld) as refused:
            Journal(tmp_path).acquire("prod", None)
        assert holder_identity() in refused.value.message
        assert "rollout 7" in refused.value.message
        assert "unlock" in refused.value.hint
    finally:
        first.release()
    Journal(tmp_path).acquire("prod", None).release()  # free again once released


def test_an_expired_lease_is_taken_over_and_the_takeover_recorded(tmp_path):
    journal = Journal(tmp_path)
    rid = journal.start("prod", {})
    stale = journal.acquire("prod", rid, ttl_s=0.2)
    stale._stop.set()  # its holder died: no more heartbeats
    time.sleep(0.3)
    taker = Journal(tmp_path).acquire("prod", None)
    try:
        assert any("taken over" in e.message for e in journal.events(rid))
        stale._thread.join(timeout=2)
        assert not journal.leases.renew("prod", stale.token, 1.0)  # the old holder lost it
    finally:
        taker.release()


def test_the_heartbeat_keeps_a_lease_alive_past_its_ttl(tmp_path):
    journal = Journal(tmp_path)
    lease = journal.acquire("prod", None, ttl_s=0.3)
    try:
        time.sleep(0.8)
        with pytest.raises(LockHeld):
            journal.acquire("prod", None)
        lease.check()
    finally:
        lease.release()


def test_unlock_is_forced_and_recorded(tmp_path):
    journal = Journal(tmp_path)
    rid = journal.start("prod", {})
    lease = journal.acquire("prod", rid)
    lease._stop.set()
    assert journal.unlock("prod", "holder's machine died") == holder_identity()
    assert any("broken" in e.message and "machine died" in e.message
               for e in journal.events(rid))
    assert journal.lease_holder("prod") is None


def test_phases_done_facts_and_history(tmp_path):
    journal = Journal(tmp_path)
    rid = journal.start("prod", {"app_version": "2.0"})
    journal.record(rid, "sync", "start", "sync started")
    journal.record(rid, "sync", "done", "sync done", seconds=1.5)
    journal.update_facts(rid, blue="blue")
    journal.set_state(rid, "succeeded", ended=True)
    again = Journal(tmp_path)  # as after a crash: everything is on disk
    assert again.done_phases(rid) == {"sync"}
    r = again.rollout(rid)
    assert (r.state, r.phase, r.facts) == ("succeeded", "sync",
                                          {"app_version": "2.0", "blue": "blue"})
    assert [h.id for h in again.history("prod")] == [rid]
    assert oct((tmp_path / "journal.db").stat().st_mode & 0o777) == "0o600"


def test_a_lease_whose_process_died_on_this_machine_is_taken_over_at_once(tmp_path):
    import subprocess
    import sys

    journal = Journal(tmp_path)
    child = subprocess.Popen(  # a holder that takes the lease and dies without releasing
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
         " from pathlib import Path; from orchestrator.runbook.journal import Journal;"
         " Journal(Path(sys.argv[2])).acquire('prod', 3, ttl_s=600); import os; os._exit(0)",
         str(Path(__file__).resolve().parents[3]), str(tmp_path)])
    assert child.wait(timeout=60) == 0
    assert journal.lease_holder("prod") is not None  # not expired for ten minutes
    lease = journal.acquire("prod", None)
    lease.release()
    gone = lease.taken_over
    assert gone is not None and gone.dead and gone.pid == child.pid and gone.rollout_id == 3
    assert gone.holder.endswith(f"pid {child.pid}") and gone.acquired_at is not None
    assert any(f"pid {child.pid} (rollout 3; its process is gone" in e.message
               for e in journal.events(3))
