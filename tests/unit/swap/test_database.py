"""The database swap's sync phase, against the fakes: while the snapshot runs (no
position yet) it says how far the copy has got, and keeps it in the facts."""

from __future__ import annotations

from pathlib import Path

from orchestrator import config
from orchestrator.db.fakes import FakeSync
from orchestrator.db.progress import RowProgress, TableProgress
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.swap import database
from orchestrator.swap.database import DatabaseSwap
from orchestrator.swap.fakes import FakeRecorder, fake_parts

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


class _Copying(FakeSync):
    """A snapshot that takes a few polls: no position until then, rows moving."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.streams.discard("forward")
        self.polls = polls

    def position(self, direction: str) -> int | None:
        self.polls -= 1
        if self.polls <= 0:
            self.streams.add(direction)
            return super().position(direction)
        done = 1000 * (3 - self.polls)
        self.copying = TableProgress("snapshot", "accounts", done, 4000, 500.0)
        return None


def test_the_sync_phase_says_how_far_the_snapshot_has_got(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "SYNC_PROGRESS_S", 0.0)
    sync, recorder = _Copying(polls=3), FakeRecorder()
    swap = DatabaseSwap(fake_parts(config.load(SAMPLE), FakeLoadBalancer(), sync, tmp_path,
                                   recorder))
    swap.sync()
    copied = [line for line in recorder.said if "snapshot accounts" in line]
    assert copied[-1] == "sync: snapshot accounts: 2,000 of ~4,000 rows, 500 rows/s, ETA 4s"
    assert recorder.facts["sync_snapshot"] == {
        "what": "snapshot", "table": "accounts", "rows": 2000, "estimate": 4000,
        "rows_per_s": 500.0, "eta_s": 4.0}


def test_progress_written_by_one_process_is_read_whole_by_another(tmp_path):
    said: list[str] = []
    path = tmp_path / "progress.json"
    assert TableProgress.read(path) is None  # nothing yet: not an error
    now = [100.0]
    progress = RowProgress("snapshot", {"accounts": 1_055_000}, said.append, path,
                           clock=lambda: now[0])
    progress("accounts", 5_000)  # the first chunk, copied before anything was timed
    assert said == [] and not path.exists()
    now[0] += 2.5
    progress("accounts", 255_000)
    assert said == ["snapshot accounts: 255,000 of ~1,055,000 rows, 100,000 rows/s, ETA 8s"]
    assert TableProgress.read(path) == TableProgress("snapshot", "accounts", 255_000,
                                                     1_055_000, 100_000.0)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("{half")
    assert TableProgress.read(path) is None
