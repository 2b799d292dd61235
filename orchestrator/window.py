"""Patch windows: when a rollout may start, and until when a cutover may.

A window opens at each time of a cron expression, read in the window's time zone
(so "0 2 * * SUN" stays 02:00 local across DST changes; a start in a skipped hour
moves to the next valid time), and stays open `duration`. A window that opens on
a freeze date does not open at all. No cutover starts after the window's cutoff:
the close minus the worst case of a cutover and its bake, so that a rollback, if
the bake calls for one, also happens inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from orchestrator.errors import OutsideWindow

SEARCH_WINDOWS = 2000  # starts looked at, forwards or back, before giving up


@dataclass(frozen=True)
class Window:
    cron: str
    duration: timedelta
    timezone: ZoneInfo
    freeze: tuple[tuple[date, date], ...]  # inclusive date ranges, in the window's zone
    worst_case: timedelta  # of a cutover and its bake

    def frozen(self, start: datetime) -> bool:
        day = start.astimezone(self.timezone).date()
        return any(first <= day <= last for first, last in self.freeze)

    def status(self, now: datetime) -> WindowStatus:
        # Arithmetic and comparisons in UTC: a 4-hour window is 4 hours long even
        # across a DST change, which wall-clock arithmetic would make 3 or 5.
        now = now.astimezone(UTC)
        frozen_start = None
        for start in self._starts((now + timedelta(seconds=1)).astimezone(self.timezone),
                                  reverse=True):
            closes = (start.astimezone(UTC) + self.duration).astimezone(self.timezone)
            if closes.astimezone(UTC) <= now:
                break  # this one and every earlier one has closed
            if self.frozen(start):
                frozen_start = frozen_start or start
                continue
            cutoff = (closes.astimezone(UTC) - self.worst_case).astimezone(self.timezone)
            return WindowStatus(True, start, closes, cutoff, self.next_open(now), None)
        return WindowStatus(False, None, None, None, self.next_open(now), frozen_start)

    def next_open(self, now: datetime) -> datetime | None:
        for start in self._starts(now.astimezone(self.timezone), reverse=False):
            if not self.frozen(start):
                return start
        return None

    def _starts(self, origin: datetime, reverse: bool):
        it = CronSim(self.cron, origin, reverse=reverse)
        for _ in range(SEARCH_WINDOWS):
            yield next(it)


@dataclass(frozen=True)
class WindowStatus:
    open: bool
    opened_at: datetime | None
    closes_at: datetime | None
    cutoff_at: datetime | None  # the last moment a cutover may start
    next_opens_at: datetime | None
    frozen_start: datetime | None  # a window that would be open now but for a freeze

    def may_cutover(self, now: datetime) -> bool:
        return (self.open and self.cutoff_at is not None
                and now.astimezone(UTC) <= self.cutoff_at.astimezone(UTC))

    def describe(self, now: datetime) -> str:
        nxt = (f"the next opens {_when(self.next_opens_at)}" if self.next_opens_at
               else f"no window opens in the next {SEARCH_WINDOWS} starts")
        if self.open:
            assert self.closes_at is not None and self.cutoff_at is not None
            cut = ("cutovers may start until " + _when(self.cutoff_at)
                   if self.may_cutover(now) else
                   f"past the cutoff ({_when(self.cutoff_at)}): no cutover may start")
            return f"open since {_when(self.opened_at)} until {_when(self.closes_at)}; {cut}"
        if self.frozen_start is not None:
            return (f"closed: the window of {_when(self.frozen_start)} falls on a freeze "
                    f"date; {nxt}")
        return f"closed; {nxt}"

    def as_dict(self, now: datetime) -> dict:
        iso = {k: v.isoformat() if v else None for k, v in (
            ("opened_at", self.opened_at), ("closes_at", self.closes_at),
            ("cutoff_at", self.cutoff_at), ("next_opens_at", self.next_opens_at))}
        return {"open": self.open, "may_cutover": self.may_cutover(now), **iso,
                "frozen": self.frozen_start is not None, "reason": self.describe(now)}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%a %Y-%m-%d %H:%M %Z") if moment else "?"


def check(window: Window | None, override: str | None, now: datetime, what: str,
          cutover: bool = False) -> None:
    """Refuse `what` outside the window (or, for a cutover, past its cutoff), unless
    the operator overrode the window with a reason."""
    if window is None or override:
        return
    status = window.status(now)
    allowed = status.may_cutover(now) if cutover else status.open
    if not allowed:
        raise OutsideWindow(f"{what}: the patch window is {status.describe(now)}")
