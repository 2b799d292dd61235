"""poll_until: the one bounded wait; its caller names what it waited for."""

from __future__ import annotations

import itertools
import time

from orchestrator.retry import poll_until


def test_it_returns_what_it_saw_once_the_condition_holds():
    counter = itertools.count()
    waited = poll_until(lambda: next(counter), lambda n: n >= 3, within_s=5, every_s=0.001)
    assert waited.done and waited.last == 3


def test_past_the_deadline_it_gives_the_last_look_and_does_not_wait_longer():
    began = time.monotonic()
    waited = poll_until(lambda: "still busy", lambda s: s == "idle", within_s=0.05, every_s=0.01)
    assert not waited.done and waited.last == "still busy"
    assert time.monotonic() - began < 1.0


def test_a_zero_wait_still_looks_once():
    assert poll_until(lambda: True, bool, within_s=0, every_s=1).done
