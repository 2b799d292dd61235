"""The LoadBalancer Protocols and their fake.

Every LB tells who is live, flips, counts answers and health. What only some can
do is a Protocol of its own, so that no driver has to refuse part of its own
interface: holding requests and counting those in flight (HAProxy: what a swap of
databases needs for its pause), and weights (an ALB's listener: a canary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from orchestrator.errors import ConfigError, InputError

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

    def responses(self, color: str) -> Answers:
        """What the colour's backend has answered, as the LB itself counts it."""
        ...

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        """Wait until `count` of the colour's servers pass the LB's own health checks."""
        ...

    def close(self) -> None:
        """Let go of any connection to the LB."""
        ...


@runtime_checkable
class HoldingLoadBalancer(LoadBalancer, Protocol):
    """An LB that can hold requests: what a swap of databases pauses with."""

    def hold(self) -> None:
        """Make new requests wait at the LB (bounded by the LB's own hold limit)."""
        ...

    def release(self) -> None:
        """Let held and new requests through."""
        ...

    def inflight(self, color: str) -> int:
        """Requests the colour's backend is serving right now (held ones are not)."""
        ...


@runtime_checkable
class WeightedLoadBalancer(LoadBalancer, Protocol):
    """An LB that splits requests between the colours: what a canary moves with."""

    def weights(self) -> dict[str, int]:
        """Percent of new requests each colour receives now, read from the LB."""
        ...

    def shift(self, color: str, percent: int) -> None:
        """`percent` of new requests to `color`, the rest to the other colour."""
        ...


def holding(lb: LoadBalancer) -> HoldingLoadBalancer:
    """The LB as one that holds requests, or a ConfigError naming lb.kind."""
    if not isinstance(lb, HoldingLoadBalancer):
        raise ConfigError("lb.kind", f"{type(lb).__name__} cannot hold requests, which a swap"
                          " of databases pauses with", "use HAProxy in front")
    return lb


def weighted(lb: LoadBalancer) -> WeightedLoadBalancer:
    """The LB as one that splits requests by weight, or a ConfigError naming lb.kind."""
    if not isinstance(lb, WeightedLoadBalancer):
        raise ConfigError("lb.kind", f"{type(lb).__name__} has no weights; a shared"
                          " database's rollout moves traffic on an ALB's listener")
    return lb


def canary(lb: WeightedLoadBalancer, color: str, steps: Sequence[int],
           check: Callable[[int], None], say: Callable[[str], None] = lambda _m: None
           ) -> list[int]:
    """Move traffic to `color` step by step, calling `check(percent)` after each.

    A check that raises sends every request back to the other colour before the
    error goes on: a canary never stays half-way on a failure."""
    if not steps or list(steps) != sorted(set(steps)) or steps[-1] != 100 or steps[0] <= 0:
        raise InputError(f"cutover.canary_steps: {list(steps)} must rise strictly to 100")
    done: list[int] = []
    other = next(c for c in BACKENDS if c != color)
    for percent in steps:
        lb.shift(color, percent)
        done.append(percent)
        say(f"canary: {percent}% of requests to {color}")
        try:
            check(percent)
        except BaseException:
            lb.flip(other)
            say(f"canary: check failed at {percent}%; all requests back to {other}")
            raise
    return done
