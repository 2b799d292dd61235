"""The LoadBalancer Protocol and its fake."""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol

from orchestrator.errors import InputError

BACKENDS = {"blue": "be_blue", "green": "be_green"}


def backend_for(color: str) -> str:
    try:
        return BACKENDS[color]
    except KeyError:
        raise InputError(f"color: unknown colour {color!r}; expected blue or green") from None


class Answers(NamedTuple):
    """A backend's answers since the LB started, and its recent latency."""
    total: int
    errors: int  # 5xx
    avg_ms: int  # average response time of recent requests


class LoadBalancer(Protocol):
    def live_color(self) -> str:
        """The colour whose backend receives traffic now, read from the LB itself."""
        ...

    def flip(self, color: str, release: bool = False) -> float:
        """Send all new requests to `color`, atomically, without a reload; with
        `release`, then let held requests go too, in the same round trip. Returns
        the time.monotonic() at which the LB had taken the change: any bookkeeping
        after it (a file for the LB's next restart) is not part of a swap's pause."""
        ...

    def hold(self) -> None:
        """Make new requests wait at the LB (bounded by the LB's own hold limit)."""
        ...

    def release(self) -> None:
        """Let held and new requests through."""
        ...

    def inflight(self, color: str) -> int:
        """Requests the colour's backend is serving right now (held ones are not)."""
        ...

    def responses(self, color: str) -> Answers:
        """What the colour's backend has answered, as the LB itself counts it."""
        ...

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        """Wait until `count` of the colour's servers pass the LB's own health checks."""
        ...

    def close(self) -> None:
        """Let go of any connection to the LB."""
        ...


class FakeLoadBalancer:
    def __init__(self, live: str = "blue") -> None:
        self.live = live
        self.held = False
        self.events: list[str] = []
        self.busy: dict[str, int] = {"blue": 0, "green": 0}
        self.answers: dict[str, Answers] = {"blue": Answers(0, 0, 0), "green": Answers(0, 0, 0)}

    def live_color(self) -> str:
        return self.live

    def flip(self, color: str, release: bool = False) -> float:
        backend_for(color)
        self.live = color
        self.events.append(f"flip {color}")
        if release:
            self.release()
        return time.monotonic()

    def hold(self) -> None:
        self.held = True
        self.events.append("hold")

    def release(self) -> None:
        self.held = False
        self.events.append("release")

    def inflight(self, color: str) -> int:
        return self.busy[color]

    def responses(self, color: str) -> Answers:
        return self.answers[color]

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        return {f"{color}-{n}": "UP" for n in range(count)}

    def close(self) -> None:
        self.events.append("close")
