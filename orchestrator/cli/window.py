"""`greenswap window status`: is a patch window open, until when may a cutover
start, when does the next one open, and why."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import emit_json, out
from orchestrator.config import load
from orchestrator.errors import InputError


@click.group()
def window() -> None:
    """Patch windows (the config's `window` section)."""


@window.command()
@config_option
@click.option("--at", "at", default=None, metavar="TIME",
              help="Ask about this moment instead of now (ISO 8601 with an offset).")
@click.option("--json", "as_json", is_flag=True)
def status(config_path: Path, at: str | None, as_json: bool) -> None:
    """Exit 0 if a rollout may start now, 1 if not."""
    cfg = load(config_path)
    now = _moment(at)
    if cfg.window is None:
        data = {"open": True, "may_cutover": True, "reason": "no window configured: any time"}
    else:
        data = cfg.window.status(now).as_dict(now)
    if as_json:
        emit_json({"environment": cfg.environment, "at": now.isoformat(), **data})
    else:
        out.print(f"{cfg.environment}: {data['reason']}", soft_wrap=True)
    sys.exit(0 if data["open"] else 1)


def _moment(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise InputError(f"--at: {at!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InputError(f"--at: {at!r} has no UTC offset; add one, like +01:00 or Z")
    return moment
