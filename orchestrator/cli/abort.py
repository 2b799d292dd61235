"""`greenswap abort`: before the cutover, green destroyed and blue untouched."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import config_option, keep_option, summary
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.runbook import rollout as runbook


@click.command()
@config_option
@keep_option
@click.option("--yes", "-y", is_flag=True)
def abort(config_path: Path, keep_failed: bool, yes: bool) -> None:
    """End a rollout that has not cut over: green is destroyed, blue untouched."""
    cfg = load(config_path)
    if not yes:
        click.confirm(f"Abort the rollout of {cfg.environment} and destroy green?", abort=True)
    ctx = runbook.abort(cfg, say, keep_failed)
    summary(ctx.journal, ctx.rollout_id)
