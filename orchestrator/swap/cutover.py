"""The swap: move the live colour with a sub-second pause and no lost write.

The same steps serve the cutover (blue -> green, then reverse replay keeps blue
fed) and the rollback (green -> blue, nothing fed after). Every step is timed and
recorded. Until the LB flips, a passed deadline or any error aborts cleanly: the
old colour unfenced, the hold released, the old colour serving, its stream running
again. After the flip there is no going back, only forward.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from orchestrator import faults
from orchestrator.config import Cutover
from orchestrator.db.sync import Follower
from orchestrator.errors import CutoverAborted, GreenswapError
from orchestrator.lb.base import HoldingLoadBalancer
from orchestrator.retry import poll_until
from orchestrator.swap.steplog import StepLog

T = TypeVar("T")


class CutoverData(Protocol):
    """What a swap asks of the data side, in the order it asks (db.sync.Sync is one)."""

    def lag_bytes(self, direction: str) -> int: ...
    def long_writers(self, color: str, older_than_s: float) -> list[str]: ...
    def prepare(self, direction: str) -> None:
        """Connections and catalogs read now, so that the pause does not."""
    def fence(self, color: str) -> int:
        """Every writer of the colour's database ended, none let in; how many ended."""
    def flushed_lsn(self, color: str) -> int: ...
    def follow(self, direction: str) -> Follower:
        """The direction's stream, taken into this process for the last stretch."""
    def sequences(self, direction: str) -> dict[str, int]: ...
    def unfence(self, color: str) -> None: ...
    def drop(self, direction: str) -> None: ...
    def anchor(self, direction: str) -> None:
        """The next direction's stream, starting exactly here."""
    def start(self, direction: str) -> None: ...


@dataclass(frozen=True)
class Swap:
    name: str  # as the step log and status say it
    old: str  # the colour serving now
    new: str  # the colour that will serve
    stream: str  # the direction that feeds new from old, drained at the swap
    next_stream: str | None  # the direction started after, feeding old from new
    new_was_fenced: bool  # a rollback's blue: fenced again if the swap aborts


CUTOVER = Swap("cutover", "blue", "green", "forward", "reverse", False)
ROLLBACK = Swap("rollback", "green", "blue", "reverse", None, True)


@dataclass
class SwapResult:
    steps: dict[str, float] = field(default_factory=dict)  # step -> ms
    pause_ms: float | None = None  # from hold to release; None: nothing was held
    final_lsn: int = 0


def swap(plan: Swap, lb: HoldingLoadBalancer, sync: CutoverData, settings: Cutover,
         arm: Callable[[], None] = lambda: None, labels: dict[str, str] | None = None,
         log: StepLog | None = None) -> SwapResult:
    """The steps, each timed into the result; on an abort the steps done so far
    travel on the exception (`.steps`). Nothing in the pause waits for the disk:
    `log` (steplog.py) only hands each step's start and end to the kernel.
    `arm` is called just before the hold (the watchdog starts its clock there).
    `labels` names the LB's colour for each role ("blue" is whichever was live)."""
    swapping = _Swapping(plan, _Labelled(lb, labels or {"blue": "blue", "green": "green"}),
                         sync, settings, log)
    try:
        taken = swapping.before_hold()
        swapping.pause(taken, arm)
    except BaseException as exc:
        failure = swapping.undo(exc)
        if failure is exc:
            raise
        raise failure from exc
    next_stream = plan.next_stream
    if next_stream:
        swapping.step("start reverse stream", lambda: sync.start(next_stream))
    return swapping.result


class _Swapping:
    """One swap under way: its steps, each timed (and logged) into the result."""

    def __init__(self, plan: Swap, roles: _Labelled, sync: CutoverData, settings: Cutover,
                 log: StepLog | None) -> None:
        self.plan, self.roles, self.sync, self.settings, self.log = (
            plan, roles, sync, settings, log)
        self.result = SwapResult()
        self.follower: Follower | None = None  # the stream, once taken in-process
        self.alongside: _Alongside | None = None

    def step(self, name: str, action: Callable[[], T]) -> T:
        if self.log is not None:
            self.log.begin(name)
        began, failed = time.monotonic(), True
        try:
            value = action()
            failed = False
            return value
        finally:
            self.result.steps[name] = round((time.monotonic() - began) * 1000, 2)
            if self.log is not None:
                self.log.end(name, self.result.steps[name], failed)
            faults.point(name)

    def before_hold(self) -> Follower:
        """Everything that can be done while the old colour still serves: the stream
        close behind, long writers gone, the stream taken in-process and caught up."""
        plan, sync, settings = self.plan, self.sync, self.settings
        self.step("lag check", lambda: _wait_lag(sync, plan.stream, settings))
        self.step("wait for long transactions",
                  lambda: wait_for_long_writers(sync, plan.old, settings))
        next_stream = plan.next_stream
        if next_stream:
            self.step("prepare reverse stream", lambda: sync.prepare(next_stream))
        self.follower = taken = self.step("take stream in-process",
                                          lambda: sync.follow(plan.stream))
        # Caught up to the old side's position of a moment ago, before holding: the
        # pause then only covers the last few milliseconds of writes, not the lag.
        warm = time.monotonic() + settings.deadline_ms / 1000
        self.step("catch up before hold",
                  lambda: taken.wait_for(sync.flushed_lsn(plan.old), warm))
        return taken

    def pause(self, taken: Follower, arm: Callable[[], None]) -> None:
        """Hold, drain, fence, catch up, flip and release, within max_pause_ms."""
        plan, sync, settings, result = self.plan, self.sync, self.settings, self.result
        arm()
        held_at = time.monotonic()
        deadline = held_at + settings.max_pause_ms / 1000
        self.step("hold", self.roles.hold)
        self.step("drain in-flight", lambda: _drain(self.roles, plan.old, settings, deadline))
        result.final_lsn = self.step("fence", lambda: sync.fence(plan.old))

        # Independent of the catch-up, so run beside it: the old side's sequences are
        # final once it is fenced, and the new side takes no traffic until the flip.
        def sequences_and_unfence() -> None:
            sync.sequences(plan.stream)
            sync.unfence(plan.new)

        self.alongside = alongside = _Alongside(sequences_and_unfence)
        self.step("catch up", lambda: taken.wait_for(result.final_lsn, deadline))
        self.step("stop stream", taken.stop)
        self.step("wait for sequences and unfence new", alongside.join)
        result.steps["sequences and unfence new (alongside)"] = alongside.ms
        _check_deadline(deadline, settings)
        # The point of no return: from here the new colour holds every write.
        self.step("drop stream", lambda: sync.drop(plan.stream))
        next_stream = plan.next_stream
        if next_stream:
            self.step("anchor reverse stream", lambda: sync.anchor(next_stream))
        _check_deadline(deadline, settings)
        released_at = self.step("flip and release",
                                lambda: self.roles.flip(plan.new, release=True))
        result.pause_ms = round((released_at - held_at) * 1000, 2)

    def undo(self, exc: BaseException) -> BaseException:
        """After `exc`: before the flip, both sides put back as they were; the error
        to raise (`exc` itself, or the abort that says what could not be undone)."""
        exc.steps = self.result.steps  # type: ignore[attr-defined]
        if _flipped(self.roles, self.plan):
            # The LB points at the new colour (the error came with or after the
            # flip): only forward now. Tearing down would wipe the live side.
            _release_anyway(self.roles)
            return exc
        if self.alongside is not None:
            self.alongside.thread.join(timeout=30)  # it uses connections the undo needs
        undo_failures = _abort(self.plan, self.roles, self.sync, self.follower)
        if isinstance(exc, CutoverAborted) and not undo_failures:
            return exc
        aborted = _aborted(self.plan, exc, undo_failures)
        aborted.steps = self.result.steps  # type: ignore[attr-defined]
        return aborted


class _Labelled:
    """The LB, spoken to in this rollout's roles: its colour labels alternate between
    rollouts, the roles (blue = live at the start) do not."""

    def __init__(self, lb: HoldingLoadBalancer, labels: dict[str, str]) -> None:
        self.lb, self.labels = lb, labels
        self.roles = {v: k for k, v in labels.items()}

    def live_color(self) -> str:
        return self.roles[self.lb.live_color()]

    def flip(self, role: str, release: bool = False) -> float:
        return self.lb.flip(self.labels[role], release=release)

    def hold(self) -> None:
        self.lb.hold()

    def release(self) -> None:
        self.lb.release()

    def inflight(self, role: str) -> int:
        return self.lb.inflight(self.labels[role])


def _check_deadline(deadline: float, settings: Cutover) -> None:
    if time.monotonic() > deadline:
        raise CutoverAborted(f"the pause reached cutover.max_pause_ms"
                             f" ({settings.max_pause_ms} ms) before the flip")


def _flipped(lb: _Labelled, plan: Swap) -> bool:
    try:
        return lb.live_color() == plan.new
    except Exception:  # noqa: BLE001 - unknown: the abort path asks the LB again
        return False


class _Alongside:
    """A step run on a thread of its own; join() re-raises its error."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.ms = 0.0
        self.thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self.thread.start()

    def _run(self, action: Callable[[], object]) -> None:
        began = time.monotonic()
        try:
            action()
        except BaseException as exc:  # re-raised in the swap's own thread
            self.error = exc
        self.ms = round((time.monotonic() - began) * 1000, 2)

    def join(self) -> None:
        self.thread.join(timeout=60)
        if self.thread.is_alive():
            raise CutoverAborted("sequences and unfence did not finish within 60 s")
        if self.error is not None:
            raise self.error


def _wait_lag(sync: CutoverData, stream: str, settings: Cutover) -> None:
    """The swap starts only when the stream is close behind: the pause then covers
    a few hundred ms of changes, not a backlog. Bounded by cutover.deadline_ms."""
    waited = poll_until(lambda: sync.lag_bytes(stream),
                        lambda lag: lag <= settings.lag_threshold_bytes,
                        settings.deadline_ms / 1000, 0.1)
    if not waited.done:
        raise CutoverAborted(f"lag of the {stream} stream stayed at {waited.last} bytes, over"
                             f" cutover.lag_threshold_bytes, for cutover.deadline_ms",
                             "wait for sync to catch up, then run 'greenswap resume'")


def wait_for_long_writers(sync: CutoverData, color: str, settings: Cutover) -> None:
    """A transaction that has been writing on the old side for longer than the pause
    may last would be ended by the fence, its work rolled back. Wait for it to end,
    within cutover.deadline_ms, or do not start the swap: nothing has moved yet."""
    waited = poll_until(lambda: sync.long_writers(color, settings.max_pause_ms / 1000),
                        lambda long: not long, settings.deadline_ms / 1000, 0.1)
    if not waited.done:
        raise CutoverAborted(
            f"a transaction on {color}'s database kept writing past cutover.deadline_ms:"
            f" {waited.last[0]}", "let it finish (or end it), then run 'greenswap resume'")


def _drain(lb: _Labelled, color: str, settings: Cutover, deadline: float) -> None:
    """Wait until the old colour answers nothing: held requests are not counted."""
    within = min(deadline - time.monotonic(), settings.inflight_timeout_ms / 1000)
    waited = poll_until(lambda: lb.inflight(color), lambda busy: busy == 0, within, 0.005)
    if not waited.done:
        raise CutoverAborted(f"{waited.last} request(s) still in flight on {color} after "
                             f"{settings.inflight_timeout_ms} ms")


def _abort(plan: Swap, lb: _Labelled, sync: CutoverData, follower: Follower | None
           ) -> list[str]:
    """Put both sides back as they were: the old colour serving, writable and
    streamed from; a rollback's blue fenced again. Every undo is tried; returns
    those that failed, one line each, since the operator must then look."""
    undos: list[tuple[str, Callable[[], object]]] = [
             ("stop the catch-up", follower.stop if follower else lambda: None),
             (f"unfence {plan.old}", lambda: sync.unfence(plan.old)),
             ("release the hold", lb.release)]
    if plan.new_was_fenced:
        undos.append((f"fence {plan.new} again", lambda: sync.fence(plan.new)))
    next_stream = plan.next_stream
    if next_stream:  # it may have been anchored already: it would pin the WAL
        undos.append(("drop the new reverse stream", lambda: sync.drop(next_stream)))
    undos.append((f"restart the {plan.stream} stream", lambda: sync.start(plan.stream)))
    failed = []
    for what, undo in undos:
        try:
            undo()
        except Exception as exc:  # noqa: BLE001 - the others are still tried
            failed.append(f"{what}: {_text(exc)}")
    return failed


def _aborted(plan: Swap, cause: BaseException, undo_failures: list[str]) -> CutoverAborted:
    """The abort's one line: why the swap stopped and, if any, what could not be
    put back (the hold lives in the LB's memory only: restarted, it holds nothing)."""
    why = cause.message if isinstance(cause, CutoverAborted) else (
        f"cutover step failed: {_text(cause)}")
    if not undo_failures:  # the cause's own advice, if it gave any
        given = (cause.hint if isinstance(cause, GreenswapError)
                 and cause.hint != type(cause).default_hint else None)
        return CutoverAborted(why, given)
    again = "rollback" if plan.new_was_fenced else "resume"
    return CutoverAborted(f"{why}; undoing it failed too ({'; '.join(undo_failures)})",
                          f"check by hand that {plan.old} is unfenced and serving, then "
                          f"'greenswap {again}'")


def _release_anyway(lb: _Labelled) -> None:
    # If this fails too, the LB's own hold bound (max_pause_ms) releases the requests.
    with contextlib.suppress(Exception):
        lb.release()


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, GreenswapError) else f"{type(exc).__name__}: {exc}"
