"""The demo's verdict: `make demo` (and CI after it) exits 1 unless the swap was clean."""

from __future__ import annotations

import dataclasses

from orchestrator.lab.demo import DemoSummary

CLEAN = DemoSummary(
    rollout_id=1, state="succeeded", requests=4000, failed_requests=0, stale_reads=0,
    lost_writes=0, writes=4000, pause_ms=120.0, verified_keys=5200, lag_bytes=0,
    phase_seconds={"cutover": 0.8}, seconds=45.0, failure=None, report="/r.html",
    commands=[])


def test_a_clean_swap_has_no_problems():
    assert CLEAN.problems() == []


def test_every_kind_of_unclean_is_named():
    bad = dataclasses.replace(CLEAN, state="rolled-back", failed_requests=2, stale_reads=1,
                              lost_writes=3)
    assert bad.problems() == ["the rollout ended rolled-back", "2 failed requests",
                              "1 stale reads", "3 lost acknowledged writes"]
    assert dataclasses.replace(CLEAN, stale_reads=1).problems() == ["1 stale reads"]
