"""The swap's logic against the fake LB and fake sync: order, pause, clean aborts."""

from __future__ import annotations

import time

import pytest

from orchestrator.config import Cutover
from orchestrator.db.fakes import FakeSync
from orchestrator.errors import CutoverAborted, LoadBalancerError
from orchestrator.lb.fakes import FakeLoadBalancer
from orchestrator.swap.cutover import CUTOVER, ROLLBACK, swap

FAST = Cutover(lag_threshold_bytes=1000, max_pause_ms=300, deadline_ms=1000,
               inflight_timeout_ms=100)


def test_cutover_fences_catches_up_then_flips_and_feeds_blue_back():
    lb, sync = FakeLoadBalancer(), FakeSync()
    lb.events = sync.events = []  # one timeline for both
    result = swap(CUTOVER, lb, sync, FAST)
    main = [e for e in lb.events if e not in ("sequences forward", "unfence green")]
    assert main == [
        "prepare reverse", "follow forward", "caught up 41", "hold", "fence blue",
        "caught up 42",
        "follower stopped", "drop forward", "anchor reverse", "flip green", "release",
        "start reverse"]
    at = lb.events.index
    # Beside the catch-up, but after the fence and before the flip:
    assert at("fence blue") < at("sequences forward") < at("unfence green") < at("flip green")
    assert (lb.live, lb.held) == ("green", False)
    assert sync.fenced == {"blue"}  # blue stays fenced: only reverse replay writes there
    assert result.final_lsn == 42 and 0 < result.pause_ms < 300
    assert {"hold", "fence", "catch up", "flip and release",
            "sequences and unfence new (alongside)"} <= set(result.steps)


def test_rollback_unfences_blue_before_the_flip_and_starts_nothing_after():
    lb = FakeLoadBalancer(live="green")
    sync = FakeSync(events=lb.events)  # one timeline for both
    sync.streams, sync.fenced = {"reverse"}, {"blue"}
    swap(ROLLBACK, lb, sync, FAST)
    main = [e for e in lb.events if e not in ("sequences reverse", "unfence blue")]
    assert main == ["follow reverse", "caught up 41", "hold", "fence green", "caught up 42",
                    "follower stopped", "drop reverse", "flip blue", "release"]
    at = lb.events.index
    assert at("fence green") < at("sequences reverse") < at("unfence blue") < at("flip blue")
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
    assert "hold" not in lb.events and sync.fenced == set()


def test_a_failed_flip_aborts_and_releases():
    class BrokenLB(FakeLoadBalancer):
        def flip(self, color: str, release: bool = False) -> float:
            raise OSError("LB gone")

    lb, sync = BrokenLB(), FakeSync()
    with pytest.raises(CutoverAborted, match="LB gone"):
        swap(CUTOVER, lb, sync, FAST)
    assert lb.held is False and sync.fenced == set()


def test_an_lb_that_dies_in_the_hold_aborts_with_blue_unfenced_and_says_both_whys():
    class DeadLB(FakeLoadBalancer):
        dead = False

        def _gone(self):
            if self.dead:
                raise LoadBalancerError("HAProxy on lb-1: connection refused")

        def flip(self, color: str, release: bool = False) -> float:
            self._gone()
            return super().flip(color, release)

        def release(self) -> None:
            self._gone()
            super().release()

        def live_color(self) -> str:
            self._gone()
            return super().live_color()

    lb = DeadLB()

    class DiesAtTheFence(FakeSync):  # the LB dies once blue is fenced
        def fence(self, color: str) -> int:
            lb.dead = True
            return super().fence(color)

    sync = DiesAtTheFence()
    with pytest.raises(CutoverAborted) as aborted:
        swap(CUTOVER, lb, sync, FAST)
    message = aborted.value.message
    assert message.startswith("cutover step failed: HAProxy on lb-1: connection refused;")
    assert "undoing it failed too (release the hold: HAProxy" in message
    assert "blue is unfenced" in aborted.value.hint and "'greenswap resume'" in aborted.value.hint
    assert "fence blue" in sync.events  # it was fenced, and is not any more:
    assert sync.fenced == set() and sync.running("forward")
    assert {"hold", "fence", "flip and release"} <= set(aborted.value.steps)  # journaled


def test_a_flip_that_errs_after_the_lb_moved_is_a_flip_not_an_abort():
    class FlipThenFail(FakeLoadBalancer):
        def flip(self, color: str, release: bool = False) -> float:
            super().flip(color, release)
            raise OSError("map file not written")

    lb, sync = FlipThenFail(), FakeSync()
    with pytest.raises(OSError):
        swap(CUTOVER, lb, sync, FAST)
    # Green serves: nothing may be undone (a restarted forward stream would re-snapshot
    # green, truncating the live tables).
    assert lb.live == "green" and lb.held is False
    assert "unfence blue" not in sync.events and "start forward" not in sync.events


def test_an_aborted_rollback_fences_blue_again():
    lb = FakeLoadBalancer(live="green")
    sync = FakeSync(applied_after=1.0)
    sync.streams, sync.fenced = {"reverse"}, {"blue"}
    with pytest.raises(CutoverAborted):
        swap(ROLLBACK, lb, sync, FAST)
    assert lb.live == "green" and sync.fenced == {"blue"}  # no split brain
    assert sync.running("reverse")


def test_roles_reach_the_lb_by_their_labels():
    # Second rollout: the live colour is labelled "green", so it is this rollout's blue.
    lb, sync = FakeLoadBalancer(live="green"), FakeSync()
    swap(CUTOVER, lb, sync, FAST, labels={"blue": "green", "green": "blue"})
    assert lb.live == "blue" and "flip blue" in lb.events


def test_a_long_writing_transaction_is_waited_for_before_the_hold():
    lb, sync = FakeLoadBalancer(), FakeSync()
    sync.long_writes = {"blue": 3}  # ends after three looks
    result = swap(CUTOVER, lb, sync, FAST)
    assert lb.live == "green" and result.steps["wait for long transactions"] >= 200


def test_a_transaction_that_outlasts_the_deadline_aborts_before_anything_moves():
    lb, sync = FakeLoadBalancer(), FakeSync()
    sync.long_writes = {"blue": -1}  # never ends
    with pytest.raises(CutoverAborted, match="kept writing past cutover.deadline_ms: pid 7"):
        swap(CUTOVER, lb, sync, FAST)
    assert "hold" not in lb.events and "fence blue" not in sync.events
    assert (lb.live, lb.held, sync.fenced) == ("blue", False, set())


def test_the_pause_ends_when_the_lb_released_not_after_its_bookkeeping():
    class SlowFileLB(FakeLoadBalancer):
        def flip(self, color: str, release: bool = False) -> float:
            released_at = super().flip(color, release)
            time.sleep(0.2)  # writing the map file for the LB's next restart
            return released_at

    result = swap(CUTOVER, SlowFileLB(), FakeSync(), FAST)
    assert 0 < result.pause_ms < 150 and result.steps["flip and release"] >= 200
