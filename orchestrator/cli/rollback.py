"""`greenswap rollback`: after the cutover, the swap back to blue."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import config_option, summary
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.runbook import rollout as runbook


@click.command()
@config_option
@click.option("--yes", "-y", is_flag=True)
def rollback(config_path: Path, yes: bool) -> None:
    """Swap back to blue (after cutover, before blue is retired). Loses no write."""
    cfg = load(config_path)
    if not yes:
        click.confirm(f"Roll {cfg.environment} back to blue?", abort=True)
    ctx = runbook.rollback(cfg, say)
    summary(ctx.journal, ctx.rollout_id)
