"""The config's `window` section: cron, time zone, duration and freeze dates, each
checked with an error that names its field."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from orchestrator.config.section import Section, shown
from orchestrator.errors import ConfigError
from orchestrator.window import Window


def window_settings(section: Section, worst: timedelta) -> Window | None:
    """The config's `window` section; `worst`: the worst case of a cutover and bake."""
    if not section.raw:
        return None
    cron = section.text("cron")
    if len(cron.split()) != 5:
        raise ConfigError("window.cron", f"{shown(cron)} has {len(cron.split())} fields, not"
                          " five (minute hour day-of-month month day-of-week)")
    try:
        CronSim(cron, datetime.now())
    except CronSimError as exc:
        raise ConfigError("window.cron", f"{shown(cron)} is not a cron expression: {exc}"
                          ) from None
    zone = section.text("timezone", default="UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("window.timezone", f"{shown(zone)} is not a known time zone",
                          "use an IANA name such as Europe/Berlin") from None
    duration = timedelta(minutes=section.number("duration_m", low=1, high=7 * 24 * 60))
    if duration <= worst:
        raise ConfigError("window.duration_m", f"{duration} is not longer than the worst-case "
                          f"cutover and bake ({worst}: cutover.deadline_ms + bake.duration_s)",
                          "make the window longer, or the deadline or bake shorter")
    dates = section.raw.get("freeze") or []
    if not isinstance(dates, list):
        raise ConfigError("window.freeze", "must be a list of dates or date ranges")
    # YAML reads an unquoted 2026-12-24 as a date already.
    freeze = tuple(_freeze(i, str(text)) for i, text in enumerate(dates))
    section.no_unknown({"cron", "timezone", "duration_m", "freeze"})
    return Window(cron, duration, tz, freeze, worst)


def _freeze(index: int, text: str) -> tuple[date, date]:
    first, _, last = text.partition("..")
    try:
        span = (date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip()))
    except ValueError:
        raise ConfigError(f"window.freeze[{index}]", f"{shown(text)} is not YYYY-MM-DD or "
                          "YYYY-MM-DD..YYYY-MM-DD") from None
    if span[1] < span[0]:
        raise ConfigError(f"window.freeze[{index}]", f"{shown(text)} ends before it starts")
    return span
