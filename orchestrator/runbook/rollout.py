"""The runbook. A rollout is these phases, in this order, each one call:

    preflight -> provision -> patch -> deploy -> schema -> sync -> verify
              -> cutover -> bake -> retire

Each phase is journaled and converges when run again, so `resume` after a crash
simply runs the runbook again: what is done is skipped. A failure before the
cutover leaves blue untouched and destroys green (unless --keep-failed); a bake
failure rolls back on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from orchestrator import window
from orchestrator.config import Config
from orchestrator.errors import (
    BakeFailed,
    CanaryFailed,
    CutoverAborted,
    GreenswapError,
    InputError,
    PhaseFailed,
    RetireNotDue,
)
from orchestrator.lease import holder_identity
from orchestrator.rollouts import Phase, RolloutState
from orchestrator.runbook import green, live
from orchestrator.runbook.context import Context, Say, open_context
from orchestrator.runbook.journal import Journal
from orchestrator.runbook.lease import open_journal
from orchestrator.runbook.standing import lease_line, standing
from orchestrator.swap import watchdog

RESUMABLE = (RolloutState.RUNNING, RolloutState.FAILED_CUTOVER, RolloutState.BAKED)


def run_phases(ctx: Context) -> None:
    green.preflight(ctx)
    green.provision(ctx)
    green.patch(ctx)
    green.deploy(ctx)
    green.schema(ctx)
    live.sync(ctx)
    live.verify(ctx)
    live.cutover(ctx)
    live.bake(ctx)
    live.retire(ctx)


def rollout(cfg: Config, say: Say, keep_failed: bool = False,
            override_window: str | None = None, reason: str = "by hand") -> Context:
    window.check(cfg.window, override_window, datetime.now(UTC), "rollout refused")
    cfg.require_secrets()  # before anything is written
    journal = open_journal(cfg)
    lease = journal.acquire(cfg.environment, None)
    try:
        current = journal.latest(cfg.environment)
        if current is not None and (current.state in RESUMABLE or (
                current.state == RolloutState.FAILED
                and Phase.CUTOVER in journal.done_phases(current.id))):
            raise InputError(f"rollout {current.id} of {cfg.environment} is {current.state}",
                             "finish it with 'greenswap resume', or end it with "
                             "'greenswap abort' / 'greenswap rollback'")
        rollout_id = journal.start(cfg.environment, {
            "app_version": cfg.app.version, "config": str(cfg.path),
            "started_by": holder_identity(), "reason": reason})
        lease.attach(rollout_id)
        _note_override(journal, rollout_id, override_window)
        ctx = open_context(cfg, journal, rollout_id, say, keep_failed)
        ctx.lease = lease
        try:
            _drive(ctx)
        finally:
            ctx.close()
        return ctx
    finally:
        lease.release()


def resume(cfg: Config, say: Say, keep_failed: bool = False,
           override_window: str | None = None, bake_for_s: float | None = None) -> Context:
    """`bake_for_s`: the bake this resume runs, if the operator wants it shorter than
    bake.duration_s (journaled)."""
    cfg.require_secrets()  # before anything is written, as a rollout does
    with _active(cfg, say, keep_failed, "resume") as ctx:
        if bake_for_s is not None and ctx.done(Phase.BAKE):
            raise InputError(f"--bake-s: rollout {ctx.rollout_id} has baked already; there is "
                             "no bake left to shorten")
        stand = standing(cfg, ctx.journal, ctx.journal.rollout(ctx.rollout_id), bake_for_s)
        said = [stand.resumes_at(), stand.already_done()]
        for line in said:
            say(line)
        ctx.bake_for_s = bake_for_s
        ctx.journal.set_state(ctx.rollout_id, RolloutState.RUNNING)
        lease = lease_line(ctx.lease.taken_over if ctx.lease else None)
        ctx.record(None, "resume", f"resumed at {stand.phase}", said=[lease, *said],
                   **stand.as_dict())
        ctx.facts = _note_override(ctx.journal, ctx.rollout_id, override_window) or ctx.facts
        _keep_blue_fed(ctx)
        _drive(ctx)
        return ctx


def rollback(cfg: Config, say: Say) -> Context:
    """By hand, any time between the cutover and the retirement of blue."""
    with _active(cfg, say, False, "rollback") as ctx:
        if not ctx.done(Phase.CUTOVER):
            raise InputError(f"rollout {ctx.rollout_id} has not cut over: blue is still live",
                             "use 'greenswap abort' to end it")
        if ctx.done(Phase.RETIRE):
            raise InputError("blue was retired; there is nothing to roll back to")
        _keep_blue_fed(ctx)
        live.rollback(ctx, reason="requested by hand")
        _clean_up_green(ctx)
        _end(ctx, RolloutState.ROLLED_BACK)
        return ctx


def abort(cfg: Config, say: Say, keep_failed: bool = False) -> Context:
    """End a rollout that has not cut over: green is destroyed, blue untouched."""
    with _active(cfg, say, keep_failed, "abort") as ctx:
        if ctx.done(Phase.CUTOVER) or "green" in ctx.facts and _green_took_traffic(ctx):
            raise InputError(f"rollout {ctx.rollout_id} already cut over to green",
                             "use 'greenswap rollback' to go back to blue")
        _put_blue_back(ctx)
        _clean_up_green(ctx)
        _end(ctx, RolloutState.ABORTED)
        return ctx


def _put_blue_back(ctx: Context) -> None:
    """A cutover cut short may have left blue fenced and requests held (its watchdog
    stopped before it acted, say): aborted, blue serves and takes writes again."""
    if "green" in ctx.facts:  # before that, no swap can have begun
        ctx.swapper.put_blue_back()


def _green_took_traffic(ctx: Context) -> bool:
    return ctx.swapper.green_took_traffic()


def _note_override(journal: Journal, rollout_id: int, reason: str | None) -> dict | None:
    """The window was overridden: who and why goes in the journal, and the cutover
    will not hold to the window's cutoff either. Returns the rollout's facts."""
    if not reason:
        return None
    facts = journal.update_facts(rollout_id, window_override=reason)
    journal.record(rollout_id, None, "window",
                   f"patch window overridden by {holder_identity()}: {reason}")
    return facts


def _keep_blue_fed(ctx: Context) -> None:
    """Between cutover and retire, the reverse replayer must run (it may have died
    with the machine): a rollback catches up from it."""
    if ctx.done(Phase.CUTOVER) and not ctx.done(Phase.RETIRE):
        ctx.swapper.keep_blue_fed()


def _drive(ctx: Context) -> None:
    try:
        run_phases(ctx)
    except RetireNotDue as due:
        ctx.journal.set_state(ctx.rollout_id, RolloutState.BAKED)
        ctx.say(due.one_line())
        return
    except PhaseFailed as failed:
        _failed(ctx, failed)
        raise
    _end(ctx, RolloutState.SUCCEEDED)


def _failed(ctx: Context, failed: PhaseFailed) -> None:
    if isinstance(failed.cause, CutoverAborted):
        # Blue serves, unfenced, and the forward stream runs again: green is kept so
        # that 'resume' can try the cutover again.
        ctx.journal.set_state(ctx.rollout_id, RolloutState.FAILED_CUTOVER)
        return
    if isinstance(failed.cause, BakeFailed | CanaryFailed):
        _clean_up_green(ctx)
        _end(ctx, RolloutState.ROLLED_BACK)
        return
    if ctx.done(Phase.CUTOVER) or _green_is_live(ctx):
        ctx.journal.set_state(ctx.rollout_id, RolloutState.FAILED)
        return  # green is live: nothing is torn down; 'rollback' or 'resume'
    _clean_up_green(ctx)
    _end(ctx, RolloutState.FAILED)
    _run_failure_hooks(ctx, failed)


def _green_is_live(ctx: Context) -> bool:
    """Asked of the LB itself: a failure right after a flip must never tear down the
    colour that serves. Unknown counts as live."""
    if "green" not in ctx.facts:
        return False
    try:
        return ctx.lb.live_color() == ctx.green
    except GreenswapError:
        return True


def _clean_up_green(ctx: Context) -> None:
    """Blue untouched, green gone (or kept for a look with --keep-failed)."""
    if "green" not in ctx.facts:
        return
    streams = ("forward", "reverse") if ctx.fleet.hosts(ctx.green, "db") else ()
    for direction in streams:
        try:
            ctx.sync.drop(direction)  # its slot would pin WAL on the source for ever
        except GreenswapError as exc:
            ctx.record(None, "cleanup", f"could not drop the {direction} stream: {exc}")
    if ctx.keep_failed:
        ctx.say(f"green ({ctx.green}) kept for inspection (--keep-failed)")
        return
    names = [h.name for role in ("app", "db") for h in ctx.fleet.hosts(ctx.green, role)]
    if names:
        ctx.fleet.provider.destroy_hosts(names)
        green.refresh_lb(ctx)
        ctx.record(None, "cleanup", f"destroyed green: {', '.join(names)}")


def _run_failure_hooks(ctx: Context, failed: PhaseFailed) -> None:
    try:
        ctx.hooks("on_failure", failed_phase=failed.phase, error=failed.message)
    except GreenswapError as exc:
        ctx.record(None, "hook", exc.one_line())


def _end(ctx: Context, state: RolloutState) -> None:
    ctx.journal.set_state(ctx.rollout_id, state, ended=True)
    ctx.record(None, "end", state)


@contextmanager
def _active(cfg: Config, say: Say, keep_failed: bool, verb: str) -> Iterator[Context]:
    journal = open_journal(cfg)
    current = journal.latest(cfg.environment)
    if (current is None or current.ended_at is not None
            or current.state not in RESUMABLE + (RolloutState.FAILED,)):
        raise InputError(f"{verb}: environment {cfg.environment} has no unfinished rollout",
                         "see 'greenswap history'")
    lease = journal.acquire(cfg.environment, current.id)
    say(lease_line(lease.taken_over))
    try:
        ctx = open_context(cfg, journal, current.id, say, keep_failed)
        ctx.lease = lease
        try:
            # A swap this rollout's last command left mid-way may still have its
            # watchdog pending: it must act (or go) before this command swaps.
            watchdog.settle(ctx.run_dir, lambda m: ctx.record(None, "watchdog", m))
            yield ctx
        finally:
            ctx.close()
    finally:
        lease.release()
