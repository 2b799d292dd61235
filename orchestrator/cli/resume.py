"""`greenswap resume`: the environment's unfinished rollout, from its journal."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import (
    check_reason,
    config_option,
    keep_option,
    override_option,
    summary,
)
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.errors import InputError
from orchestrator.runbook import rollout as runbook

MAX_BAKE_S = 7 * 24 * 3600


@click.command()
@config_option
@keep_option
@override_option
@click.option("--bake-s", "bake_s", type=float, default=None, metavar="SECONDS",
              help="Bake this long instead of a whole bake.duration_s (journaled).")
def resume(config_path: Path, keep_failed: bool, override_window: str | None,
           bake_s: float | None) -> None:
    """Continue the environment's unfinished rollout from its journal. A bake it
    resumes watches a whole bake.duration_s from now, unless --bake-s says less."""
    check_reason(override_window)
    if bake_s is not None and not 0 <= bake_s <= MAX_BAKE_S:
        raise InputError(f"--bake-s: {bake_s:g} is not a number of seconds from 0 to "
                         f"{MAX_BAKE_S}")
    ctx = runbook.resume(load(config_path), say, keep_failed, override_window, bake_s)
    summary(ctx.journal, ctx.rollout_id)
