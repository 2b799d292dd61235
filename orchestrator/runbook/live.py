"""From sync to retire: green follows blue, is proven, takes the traffic, bakes, and
blue is kept fed (reverse replay) until it is retired or needed for a rollback."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg2

from orchestrator.db.lag import LagSample
from orchestrator.errors import (
    BakeFailed,
    CanaryFailed,
    CutoverAborted,
    GreenswapError,
    ReplayError,
    RetireNotDue,
    RollbackFailed,
    VerifyFailed,
)
from orchestrator.ops import window
from orchestrator.runbook.context import Context, phase
from orchestrator.runbook.green import refresh_lb
from orchestrator.swap import canary
from orchestrator.swap.cutover import CUTOVER, ROLLBACK, Swap, SwapResult, swap
from orchestrator.swap.watchdog import Watchdog

SYNC_PROGRESS_S = 5.0
SAMPLE_S = 1.0  # lag and LB answers recorded for the report while waiting on sync


@phase("sync")
def sync(ctx: Context) -> None:
    """snapshot blue through the transform, then stream its change log"""
    if ctx.cfg.database.shared:
        ctx.record("sync", "skip", "shared database: nothing to sync")
        return
    ctx.sync.start("forward")
    _wait_synced(ctx)


def _wait_synced(ctx: Context) -> None:
    """Until the forward stream has its snapshot and lags less than the cutover's
    threshold; a replayer that stopped is an error with its last words."""
    data = ctx.sync
    deadline = time.monotonic() + ctx.cfg.database.sync_timeout_s
    last_said = last_sample = 0.0
    while True:
        if not data.running("forward"):
            raise ReplayError(f"the forward replayer stopped: {data.failure('forward')}",
                              "fix the cause, then 'greenswap resume'")
        lag = data.lag("forward") if data.position("forward") is not None else None
        if time.monotonic() - last_sample >= SAMPLE_S:
            last_sample = time.monotonic()
            _sample(ctx, "sync", "forward", lag)
        if lag is not None and lag.bytes <= ctx.cfg.cutover.lag_threshold_bytes:
            ctx.remember(sync_lag_bytes=lag.bytes)
            return
        if time.monotonic() > deadline:
            raise ReplayError(f"sync did not catch up within {ctx.cfg.database.sync_timeout_s}s",
                              "raise database.sync_timeout_s, or check the replayer's log")
        if time.monotonic() - last_said > SYNC_PROGRESS_S:
            last_said = time.monotonic()
            ctx.say("sync: " + (f"lag {lag.bytes} bytes" if lag else "snapshot in progress"))
        time.sleep(0.2)


def _sample(ctx: Context, phase_name: str, direction: str, lag: LagSample | None) -> None:
    """One point of the report's charts: the stream's lag and what the LB answered."""
    data: dict = {"direction": direction}
    if lag is not None:
        data.update(lag_bytes=lag.bytes, lag_s=round(lag.seconds, 3))
    try:
        for color in (ctx.blue, ctx.green):
            data[color] = list(ctx.lb.responses(color))
    except GreenswapError:
        pass  # a point without the LB's counters: the LB's health is the swap's business
    ctx.record(phase_name, "sample", f"{direction} lag {data.get('lag_bytes', '-')} bytes",
               **data)


def _lag_or_none(ctx: Context, direction: str) -> LagSample | None:
    """For the report only: a database that does not answer now is bake's business."""
    try:
        return ctx.sync.lag(direction)
    except (GreenswapError, psycopg2.Error):
        return None


@phase("verify")
def verify(ctx: Context) -> None:
    """checksums of green against f(blue), and green's health checked directly"""
    if not ctx.cfg.database.shared:
        _verify_data(ctx)
    failures = ctx.check("verify", ctx.green)
    if failures:
        raise VerifyFailed(f"green is not healthy: {failures[0]}",
                           "fix green (it takes no traffic yet), then 'greenswap resume'")
    # And in the LB's own eyes: its health checks decide whom it sends requests to.
    apps = len(ctx.fleet.hosts(ctx.green, "app"))
    ctx.lb.wait_healthy(ctx.green, apps, ctx.cfg.cutover.deadline_ms / 1000)


def _verify_data(ctx: Context) -> None:
    keys, mismatches = ctx.sync.verify("forward")
    ctx.remember(verified_keys=keys)
    if mismatches:
        first = ", ".join(f"{m.table}{list(m.key)}" for m in mismatches[:5])
        ctx.record("verify", "mismatch", f"{len(mismatches)} mismatching keys: {first}",
                   keys=[[m.table, list(m.key)] for m in mismatches[:1000]])
        raise VerifyFailed(f"{len(mismatches)} key(s) differ between green and f(blue): {first}")


@phase("cutover")
def cutover(ctx: Context) -> None:
    """hold, fence blue, catch up, flip to green, release; blue then fed in reverse"""
    shared = ctx.cfg.database.shared  # then the LB alone moves traffic (swap/canary.py)
    if not shared and ctx.lb.live_color() == ctx.green:
        _finish_flipped(ctx, CUTOVER)  # a crash after the flip: only the tail is left
        return
    if shared:
        canary.restore(ctx)  # a canary a crash cut short starts again from blue
    try:
        window.check(ctx.cfg.window, ctx.facts.get("window_override"), datetime.now(UTC),
                     "held back", cutover=True)
        if not shared:
            _restore_unflipped(ctx)
        ctx.hooks("before_cutover")
    except GreenswapError as exc:
        # Nothing has moved: green is synced and kept, 'resume' tries again.
        raise CutoverAborted(f"cutover not started: {exc.message}", exc.hint) from exc
    result = _canary(ctx) if shared else _swap(ctx, CUTOVER)
    ctx.remember(cutover_at=time.time(), cutover_steps=result.steps,
                 cutover_pause_ms=None if shared else result.pause_ms)
    ctx.say(f"cutover: green ({ctx.green}) is live" + ("" if shared else
                                                        f"; paused {result.pause_ms:.0f} ms"))
    _hooks_after(ctx, "after_cutover")


def _canary(ctx: Context) -> SwapResult:
    try:
        return canary.move(ctx, ctx.green)
    except CanaryFailed as failed:
        rollback(ctx, reason=failed.message)  # all back on blue already: record, hooks
        raise


@phase("bake")
def bake(ctx: Context) -> None:
    """watch green under traffic; roll back on its own on failed checks or 5xx"""
    cfg = ctx.cfg.bake
    if ctx.facts.get("rollback_pending"):  # a bake rollback that did not finish
        _roll_back_from_bake(ctx, ctx.facts["rollback_pending"])
    until = ctx.facts.get("cutover_at", time.time()) + cfg.duration_s
    failed_rounds = restarts = 0
    last = ctx.lb.responses(ctx.green)
    while time.time() < until:
        time.sleep(cfg.interval_s)
        if ctx.lease is not None:
            ctx.lease.check()
        if not ctx.cfg.database.shared:
            restarts = _keep_reverse_running(ctx, restarts)
        problems = ctx.check("bake", ctx.green)
        now = ctx.lb.responses(ctx.green)
        answers, errors = now.total - last.total, now.errors - last.errors
        last = now
        _sample(ctx, "bake", "reverse", None if ctx.cfg.database.shared
                else _lag_or_none(ctx, "reverse"))
        if answers and errors / answers > cfg.max_error_rate:
            problems.append(f"LB error rate {errors}/{answers} over {cfg.max_error_rate:.2%}")
        failed_rounds = failed_rounds + 1 if problems else 0
        if problems:
            ctx.record("bake", "check", problems[0], failed_rounds=failed_rounds)
            ctx.say(f"bake: {problems[0]} ({failed_rounds}/{cfg.failures})")
        if failed_rounds >= cfg.failures:
            _roll_back_from_bake(ctx, problems[0])


def _keep_reverse_running(ctx: Context, restarts: int) -> int:
    """Blue must stay fed for a rollback: a reverse replayer found stopped is started
    again, once. Found stopped again right after (a row g raises on, say), a rollback
    could no longer catch blue up: the bake stops with the replayer's last words,
    green stays live, and nothing is torn down. Returns the restarts in a row."""
    if ctx.sync.running("reverse"):
        return 0
    why = ctx.sync.failure("reverse")
    if restarts >= 1:
        raise ReplayError(f"reverse replay keeps stopping, so blue is no longer fed: {why}",
                          "green stays live; fix the cause, then 'greenswap resume'")
    ctx.record("bake", "restart", f"reverse replayer was not running ({why}); restarted")
    ctx.sync.start("reverse")
    return restarts + 1


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
    if ctx.cfg.database.shared:
        ctx.lb.flip(ctx.blue, release=True)  # nothing to catch up: every write is there
        result = None
    elif ctx.lb.live_color() == ctx.blue:
        _finish_flipped(ctx, ROLLBACK)
        result = None
    else:
        result = _swap(ctx, ROLLBACK)
        ctx.say(f"rollback: paused {result.pause_ms:.0f} ms; blue ({ctx.blue}) is live")
    ctx.remember(rolled_back_at=time.time(),
                 rollback_pause_ms=result.pause_ms if result else None)
    ctx.record("rollback", "done", "blue is live", pause_ms=result.pause_ms if result else None)
    _hooks_after(ctx, "on_rollback")
    return result


@phase("retire")
def retire(ctx: Context) -> None:
    """stop reverse replay, drop its slot, destroy blue's hosts"""
    due = ctx.facts.get("cutover_at", time.time()) + ctx.cfg.keep_blue_s
    if time.time() < due:
        raise RetireNotDue(due)
    blue_hosts = [h.name for role in ("app", "db") for h in ctx.fleet.hosts(ctx.blue, role)]
    if blue_hosts:  # a rerun after the hosts are gone only finishes the LB
        if not ctx.cfg.database.shared:
            ctx.sync.drop("reverse")
        ctx.fleet.provider.destroy_hosts(blue_hosts)
        ctx.remember(retired_hosts=blue_hosts)
    refresh_lb(ctx)  # be_<blue> now has no servers


def _swap(ctx: Context, plan: Swap) -> SwapResult:
    """One swap with a watchdog, armed just before the hold: if this process dies
    mid-swap, the watchdog puts the old colour back (unfenced, released) once the
    pause bound has passed."""
    dogs: list[Watchdog] = []
    steps: dict[str, float] = {}
    try:
        result = swap(plan, ctx.lb, ctx.sync, ctx.cfg.cutover,
                      arm=lambda: dogs.append(Watchdog.start(ctx, plan)),
                      labels={"blue": ctx.blue, "green": ctx.green})
        steps = result.steps
        return result
    except BaseException as exc:
        steps = getattr(exc, "steps", {})
        raise
    finally:
        for dog in dogs:
            dog.stop()
        # Written after the pause, not in it: each journal write waits for the disk.
        for name, ms in steps.items():
            ctx.record("cutover", "step", name, ms=ms)


def put_blue_back(ctx: Context) -> None:
    """Blue serving and writable, nothing held: how a swap cut short before its flip
    must leave the LB and blue's database."""
    ctx.sync.unfence("blue")
    ctx.lb.release()


def _restore_unflipped(ctx: Context) -> None:
    """Before a (re)try: blue serving and writable, no half-made reverse stream, the
    forward stream running (a crash mid-cutover may have left any of these)."""
    put_blue_back(ctx)
    ctx.sync.drop("reverse")
    ctx.sync.start("forward")
    _wait_synced(ctx)


def _finish_flipped(ctx: Context, plan: Swap) -> None:
    """The LB already points at the new colour (a crash came after the flip): flip
    again, which also persists the map file and releases, and start what feeds the
    old colour."""
    ctx.lb.flip(ctx.facts[plan.new], release=True)
    if plan.next_stream:
        if "cutover_at" not in ctx.facts:
            ctx.remember(cutover_at=time.time())
        ctx.sync.start(plan.next_stream)


def _hooks_after(ctx: Context, moment: str) -> None:
    try:
        said = ctx.hooks(moment)
        if said:
            ctx.record(None, "hook", f"{moment}: {'; '.join(said)}")
    except GreenswapError as exc:  # the swap is done; a failing hook only reports
        ctx.record(None, "hook", exc.one_line())
        ctx.say(f"warning: {exc.one_line()}")
