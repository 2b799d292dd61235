"""The swap when both colours share one database (database.mode: shared).

There is nothing to fence and nothing to catch up: the LB alone moves the traffic,
all at once, or in canary steps (cutover.canary_steps, an ALB's weights) with green
watched between steps by its bake checks. A failed watch sends every request back
to blue before the error goes on, so a canary never stays half-way on a failure.
"""

from __future__ import annotations

import time

from orchestrator.errors import CanaryFailed
from orchestrator.runbook.context import Context
from orchestrator.swap.cutover import SwapResult


def move(ctx: Context, new: str) -> SwapResult:
    """All requests to `new` (its label), in the configured steps; each step timed."""
    steps: dict[str, float] = {}
    percents = ctx.cfg.cutover.canary_steps
    began = time.monotonic()
    if percents == (100,):
        ctx.lb.flip(new, release=True)
        steps["flip"] = _ms(began)
    else:
        from orchestrator.lb.aws_alb import canary  # the one LB with weights

        def watch(percent: int) -> None:
            steps[f"{percent}%"] = _ms(began)
            ctx.record("cutover", "canary", f"{percent}% of requests on {new}",
                       weights=ctx.lb.weights())
            if percent < 100:  # at 100 % the bake takes over the watching
                _watch(ctx, new, percent)

        canary(ctx.lb, new, percents, watch, ctx.say)
    return SwapResult(steps=steps, pause_ms=0.0)


def restore(ctx: Context) -> None:
    """Every request on blue, as before any cutover: undoes a canary step a crash
    left behind (the listener split), and is a no-op otherwise."""
    if ctx.lb.weights()[ctx.blue] != 100:
        ctx.lb.flip(ctx.blue, release=True)
        ctx.record("cutover", "restore", f"an interrupted canary: all requests back on "
                   f"{ctx.blue}")


def _watch(ctx: Context, color: str, percent: int) -> None:
    """canary_interval_s of green's bake checks, a round every bake.interval_s."""
    bake = ctx.cfg.bake
    until = time.monotonic() + ctx.cfg.cutover.canary_interval_s
    failed_rounds = 0
    while time.monotonic() < until:
        if ctx.lease is not None:
            ctx.lease.check()
        problems = ctx.check("bake", color)
        failed_rounds = failed_rounds + 1 if problems else 0
        if failed_rounds >= bake.failures:
            raise CanaryFailed(f"canary at {percent}% failed: {problems[0]}")
        time.sleep(min(bake.interval_s, max(0.0, until - time.monotonic())))


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)
