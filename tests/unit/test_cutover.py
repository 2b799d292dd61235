"""The swap's logic against the fake LB and fake sync: order, pause, clean aborts."""

from __future__ import annotations

import pytest

from orchestrator.config import Cutover
from orchestrator.cutover import CUTOVER, ROLLBACK, CutoverAborted, swap
from orchestrator.lb.base import FakeLoadBalancer
from orchestrator.sync import FakeSync

FAST = Cutover(lag_threshold_bytes=1000, max_pause_ms=300, deadline_ms=1000,
               inflight_timeout_ms=100)


def test_cutover_fences_catches_up_then_flips_and_feeds_blue_back():
    lb, sync = FakeLoadBalancer(), FakeSync()
    result = swap(CUTOVER, lb, sync, FAST)
    assert sync.events == [
        "follow forward", "fence blue", "caught up 42", "follower stopped", "drop forward",
        "anchor reverse", "sequences forward", "unfence green", "start reverse"]
    assert lb.events == ["hold", "flip green", "release"]
    assert (lb.live, lb.held) == ("green", False)
    assert sync.fenced == {"blue"}  # blue stays fenced: only reverse replay writes there
    assert result.final_lsn == 42 and 0 < result.pause_ms < 300
    assert {"hold", "fence", "catch up", "flip", "release"} <= set(result.steps)


def test_rollback_unfences_blue_before_the_flip_and_starts_nothing_after():
    lb = FakeLoadBalancer(live="green")
    sync = FakeSync(events=lb.events)  # one timeline for both
    sync.streams, sync.fenced = {"reverse"}, {"blue"}
    swap(ROLLBACK, lb, sync, FAST)
    assert lb.events == [
        "follow reverse", "hold", "fence green", "caught up 42", "follower stopped",
        "drop reverse", "sequences reverse", "unfence blue", "flip blue", "release"]
    assert lb.live == "blue" and sync.fenced == {"green"}


def test_in_flight_requests_that_never_end_abort_with_blue_serving_and_unfenced():
    lb, sync = FakeLoadBalancer(), FakeSync()
    lb.busy["blue"] = 3
    with pytest.raises(CutoverAborted, match="3 request"):
        swap(CUTOVER, lb, sync, FAST)
    assert (lb.live, lb.held) == ("blue", False)
    assert sync.fenced == set() and sync.running("forward")


def test_catch_up_past_the_pause_bound_aborts_before_the_flip():
    lb, sync = FakeLoadBalancer(), FakeSync(applied_after=1.0)
    with pytest.raises(CutoverAborted, match="catch-up"):
        swap(CUTOVER, lb, sync, FAST)
    assert "flip green" not in lb.events
    assert (lb.live, lb.held, sync.fenced) == ("blue", False, set())
    assert "drop reverse" in sync.events and sync.running("forward")


def test_lag_over_the_threshold_never_holds():
    lb, sync = FakeLoadBalancer(), FakeSync(lag=10**9)
    with pytest.raises(CutoverAborted, match="lag"):
        swap(CUTOVER, lb, sync, Cutover(lag_threshold_bytes=10, max_pause_ms=100,
                                        deadline_ms=200))
    assert lb.events == [] and sync.fenced == set()


def test_a_failed_flip_aborts_and_releases():
    class BrokenLB(FakeLoadBalancer):
        def flip(self, color: str) -> None:
            raise OSError("LB gone")

    lb, sync = BrokenLB(), FakeSync()
    with pytest.raises(CutoverAborted, match="LB gone"):
        swap(CUTOVER, lb, sync, FAST)
    assert lb.held is False and sync.fenced == set()
