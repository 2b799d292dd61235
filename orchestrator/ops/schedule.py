"""systemd units that start an environment's rollout when its patch window opens.

`greenswap schedule install` writes `greenswap-<env>.timer` and `.service`; the
timer's OnCalendar is the window's cron expression, translated, in the window's
time zone. The service runs `greenswap rollout --yes` non-interactively; the
window itself is still checked by the rollout, so a timer that fires late (after
the machine was down) cannot start a rollout outside its window.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from orchestrator.config import Config
from orchestrator.errors import ConfigError
from orchestrator.fsutil import write_atomic

DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
NAMED_DAYS = {d.lower(): str(i) for i, d in enumerate(DAYS)}
NAMED_MONTHS = {m: str(i) for i, m in enumerate(
    ["", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
    if m}
TOKEN = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")


def on_calendar(cron: str, timezone: str) -> str:
    """A 5-field cron expression as systemd's OnCalendar, in `timezone`."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError("window.cron", f"{cron!r}: schedule needs the 5-field form")
    minute, hour, dom, month, dow = fields
    if dom != "*" and dow != "*":
        # cron fires when either matches; systemd only when both do.
        raise ConfigError("window.cron", f"{cron!r} restricts both day of month and day of "
                          "week, which systemd cannot express", "restrict only one of them")
    days = "" if dow == "*" else ",".join(
        _days(part, cron) for part in _names(dow, NAMED_DAYS).split(",")) + " "
    date = f"*-{_field(_names(month, NAMED_MONTHS), cron, 1)}-{_field(dom, cron, 1)}"
    time = f"{_field(hour, cron, 0)}:{_field(minute, cron, 0)}:00"
    return f"{days}{date} {time} {timezone}"


def _names(field: str, names: dict[str, str]) -> str:
    return re.sub(r"[a-zA-Z]{3}", lambda m: names.get(m.group(0).lower(), m.group(0)), field)


def _field(field: str, cron: str, first: int) -> str:
    parts = []
    for part in field.split(","):
        if not TOKEN.match(part):
            raise ConfigError("window.cron", f"{cron!r}: cannot translate {part!r} for systemd")
        base, _, step = part.partition("/")
        base = f"{first}" if base == "*" and step else base
        parts.append(base.replace("-", "..") + (f"/{step}" if step else ""))
    return ",".join(parts)


def _days(part: str, cron: str) -> str:
    if not re.fullmatch(r"\d(-\d)?", part):
        raise ConfigError("window.cron", f"{cron!r}: cannot translate day {part!r} for systemd")
    first, _, last = part.partition("-")
    name = lambda d: DAYS[int(d) % 7]  # noqa: E731 (cron's 7 is Sunday too)
    return name(first) + (f"..{name(last)}" if last else "")


def units(cfg: Config, config_path: Path, greenswap: str | None = None) -> dict[str, str]:
    """File name -> text of the timer and service for `cfg`'s window."""
    if cfg.window is None:
        raise ConfigError("window", "is not set: there is no patch window to schedule")
    exe = greenswap or shutil.which("greenswap") or f"{sys.executable} -m orchestrator.cli"
    name = f"greenswap-{cfg.environment}"
    calendar = on_calendar(cfg.window.cron, cfg.window.timezone.key)
    reason = f'"patch window ({name}.timer)"'  # journaled: who started it, and why
    service = f"""\
# Written by 'greenswap schedule install'; remove with 'greenswap schedule remove'.
[Unit]
Description=greenswap rollout of {cfg.environment} in its patch window
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={exe} rollout --config {config_path.resolve()} --yes --reason {reason}
# Secrets (database and webhook) come from this file, never from the command line.
EnvironmentFile=-/etc/greenswap/{cfg.environment}.env
# A rollout is never cut short by systemd: the window's cutoff bounds the cutover.
TimeoutStartSec=infinity
KillMode=process
"""
    timer = f"""\
# Written by 'greenswap schedule install'; remove with 'greenswap schedule remove'.
[Unit]
Description=greenswap patch window of {cfg.environment}

[Timer]
OnCalendar={calendar}
Persistent=false
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    return {f"{name}.service": service, f"{name}.timer": timer}


def install(cfg: Config, config_path: Path, unit_dir: Path) -> list[Path]:
    written = []
    for file, text in units(cfg, config_path).items():
        path = unit_dir / file
        write_atomic(path, text, 0o644)
        written.append(path)
    return written


def remove(cfg: Config, unit_dir: Path) -> list[Path]:
    gone = []
    for suffix in ("timer", "service"):
        path = unit_dir / f"greenswap-{cfg.environment}.{suffix}"
        if path.exists():
            path.unlink()
            gone.append(path)
    return gone
