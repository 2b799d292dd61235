"""From sync to retire: green follows blue, is proven, takes the traffic, bakes, and
blue is kept fed until it is retired or needed for a rollback. What each step does
to the data and the traffic is the rollout's Swapper's (swap/)."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator import faults, window
from orchestrator.errors import (
    BakeFailed,
    BlueIsLive,
    CanaryFailed,
    CutoverAborted,
    GreenswapError,
    RetireNotDue,
    RollbackFailed,
    VerifyFailed,
)
from orchestrator.lease import holder_identity
from orchestrator.ops.checks import FailedRounds
from orchestrator.rollouts import Phase
from orchestrator.runbook.context import Context, phase
from orchestrator.runbook.green import refresh_lb
from orchestrator.swap.cutover import SwapResult


@phase(Phase.SYNC)
def sync(ctx: Context) -> None:
    """snapshot blue through the transform, then stream its change log"""
    ctx.swapper.sync()


@phase(Phase.VERIFY)
def verify(ctx: Context) -> None:
    """green == f(blue), and green's health checked directly"""
    ctx.swapper.verify()
    failures = ctx.check("verify", ctx.green)
    if failures:
        raise VerifyFailed(f"green is not healthy: {failures[0]}",
                           "fix green (it takes no traffic yet), then 'greenswap resume'")
    # And in the LB's own eyes: its health checks decide whom it sends requests to.
    apps = len(ctx.fleet.hosts(ctx.green, "app"))
    ctx.lb.wait_healthy(ctx.green, apps, ctx.cfg.cutover.deadline_ms / 1000)


@phase(Phase.CUTOVER)
def cutover(ctx: Context) -> None:
    """hold, fence blue, catch up, flip to green, release; blue then fed in reverse"""
    swapper = ctx.swapper
    if swapper.finish_interrupted():
        return  # a crash after the flip: only the tail was left
    try:
        window.check(ctx.cfg.window, ctx.facts.get("window_override"),
                     datetime.fromtimestamp(ctx.controller.now(), UTC), "held back", cutover=True)
        swapper.prepare()
        ctx.hooks("before_cutover")
    except GreenswapError as exc:
        # Nothing has moved: green is synced and kept, 'resume' tries again.
        raise CutoverAborted(f"cutover not started: {exc.message}", exc.hint) from exc
    try:
        result = swapper.move()
    except CanaryFailed as failed:
        rollback(ctx, reason=failed.message)  # all back on blue already: record, hooks
        raise
    ctx.remember(cutover_at=ctx.controller.now(), cutover_steps=result.steps,
                 cutover_pause_ms=result.pause_ms)
    ctx.say(f"cutover: green ({ctx.green}) is live" + (
        "" if result.pause_ms is None else f"; paused {result.pause_ms:.0f} ms"))
    _hooks_after(ctx, "after_cutover")


@phase(Phase.BAKE)
def bake(ctx: Context) -> None:
    """watch green under traffic; roll back on its own on failed checks or 5xx"""
    cfg = ctx.cfg.bake
    if ctx.facts.get("rollback_pending"):  # a bake rollback that did not finish
        _roll_back_from_bake(ctx, ctx.facts["rollback_pending"])
    _green_serves(ctx)
    clock = ctx.controller
    segment = _Segment(ctx, _watch_for(ctx))
    rounds, restarts = FailedRounds(cfg.failures), 0
    last = ctx.lb.responses(ctx.green)
    while clock.now() < segment.until:
        clock.sleep(cfg.interval_s)
        if ctx.lease is not None:
            ctx.lease.check()
        restarts = ctx.swapper.watch_feed(restarts)
        problems = ctx.check("bake", ctx.green)
        now = ctx.lb.responses(ctx.green)
        answers, errors = now.total - last.total, now.errors - last.errors
        last = now
        ctx.sample("bake", "reverse", ctx.swapper.feed_lag())
        if answers and errors / answers > cfg.max_error_rate:
            problems.append(f"LB error rate {errors}/{answers} over {cfg.max_error_rate:.2%}")
        segment.round_done()
        faults.point("bake round")  # tests: a CLI killed mid-bake
        failed = rounds.count(problems)
        if problems:
            ctx.record("bake", "check", problems[0], failed_rounds=rounds.in_a_row)
            ctx.say(f"bake: {problems[0]} ({rounds.in_a_row}/{cfg.failures})")
        if failed:
            _roll_back_from_bake(ctx, problems[0])
    ctx.record("bake", "watched", f"bake watched green for {segment.watched_s():.1f} s "
               f"in all ({len(segment.segments)} segment(s))", watched_s=segment.watched_s())


def _watch_for(ctx: Context) -> float:
    """A whole bake.duration_s from the moment this bake (or its resume) starts,
    never the rest of a window counted from the cutover: a CLI that died mid-bake and
    was resumed late would otherwise watch nothing before blue is retired. Less only
    when the operator asked for it (resume --bake-s), and that is journaled."""
    planned = ctx.cfg.bake.duration_s
    if ctx.bake_for_s is None:
        return planned
    ctx.record("bake", "shortened", f"bake of this resume set to {ctx.bake_for_s:g} s "
               f"(bake.duration_s is {planned:g} s) by {holder_identity()} (--bake-s)",
               seconds=ctx.bake_for_s)
    return ctx.bake_for_s


class _Segment:
    """One stretch of bake one process watched, journaled in the facts after every
    round (`bake_segments`: start, end of its last round, rounds), so that a CLI
    killed mid-bake still leaves what it watched; `bake_watched_s` sums them."""

    def __init__(self, ctx: Context, seconds: float) -> None:
        now = ctx.controller.now()
        self.ctx, self.until = ctx, now + seconds
        self.segments = [*ctx.facts.get("bake_segments", []),
                         {"start": now, "end": now, "rounds": 0}]
        self._save()

    def round_done(self) -> None:
        mine = self.segments[-1]
        mine.update(end=self.ctx.controller.now(), rounds=mine["rounds"] + 1)
        self._save()

    def watched_s(self) -> float:
        return round(sum(s["end"] - s["start"] for s in self.segments), 3)

    def _save(self) -> None:
        self.ctx.remember(bake_segments=self.segments, bake_watched_s=self.watched_s())


def _roll_back_from_bake(ctx: Context, reason: str) -> None:
    ctx.remember(rollback_pending=reason)  # a crash or abort here: 'resume' retries
    try:
        rollback(ctx, reason=reason)
    except CutoverAborted as exc:
        raise RollbackFailed(f"bake failed ({reason}), and the rollback aborted: "
                             f"{exc.message}") from exc
    ctx.remember(rollback_pending=None)
    raise BakeFailed(f"bake failed ({reason}); rolled back to blue ({ctx.blue})")


def rollback(ctx: Context, reason: str) -> SwapResult | None:
    """hold, fence green, reverse catch-up, flip back to blue, release"""
    ctx.record("rollback", "start", f"rollback: {reason}")
    result = ctx.swapper.move_back()
    pause_ms = result.pause_ms if result else None
    if pause_ms is not None:
        ctx.say(f"rollback: paused {pause_ms:.0f} ms; blue ({ctx.blue}) is live")
    ctx.remember(rolled_back_at=ctx.controller.now(), rollback_pause_ms=pause_ms)
    ctx.record("rollback", "done", "blue is live", pause_ms=pause_ms)
    _hooks_after(ctx, "on_rollback")
    return result


@phase(Phase.RETIRE)
def retire(ctx: Context) -> None:
    """stop reverse replay, drop its slot, destroy blue's hosts"""
    due = ctx.facts.get("cutover_at", ctx.controller.now()) + ctx.cfg.retire.keep_blue_s
    if ctx.controller.now() < due:
        raise RetireNotDue(due)
    _green_serves(ctx)  # never destroy the colour that serves
    blue_hosts = [h.name for role in ("app", "db") for h in ctx.fleet.hosts(ctx.blue, role)]
    if blue_hosts:  # a rerun after the hosts are gone only finishes the LB
        ctx.swapper.retire()
        ctx.fleet.provider.destroy_hosts(blue_hosts)
        ctx.remember(retired_hosts=blue_hosts)
    refresh_lb(ctx)  # be_<blue> now has no servers


def _green_serves(ctx: Context) -> None:
    """Asked of the LB itself before green is baked or blue retired: a rollback by hand
    whose CLI died after its flip leaves blue serving, with the journal still saying
    'cut over'."""
    if ctx.lb.live_color() == ctx.blue:
        raise BlueIsLive(f"the LB sends every request to blue ({ctx.blue}), not green: a "
                         "rollback got past its flip and did not finish")


def _hooks_after(ctx: Context, moment: str) -> None:
    try:
        said = ctx.hooks(moment)
        if said:
            ctx.record(None, "hook", f"{moment}: {'; '.join(said)}")
    except GreenswapError as exc:  # the swap is done; a failing hook only reports
        ctx.record(None, "hook", exc.one_line())
        ctx.say(f"warning: {exc.one_line()}")
