"""`greenswap rollout`: shows the plan and asks, unless --yes; then the runbook."""

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
from orchestrator.cli.plan import print_plan
from orchestrator.config import load
from orchestrator.runbook import rollout as runbook
from orchestrator.runbook.plan import rehearse


@click.command("rollout")
@config_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@keep_option
@override_option
@click.option("--reason", default="by hand", show_default=True,
              help="Why this rollout runs; in the journal and the report.")
def rollout_cmd(config_path: Path, yes: bool, keep_failed: bool,
                override_window: str | None, reason: str) -> None:
    """Build green, sync, verify, cut over, bake and retire blue."""
    cfg = load(config_path)
    check_reason(override_window)
    if not yes:
        print_plan(rehearse(cfg))
        click.confirm(f"Roll out app {cfg.app.version} to {cfg.environment}?", abort=True)
    ctx = runbook.rollout(cfg, say, keep_failed, override_window, reason)
    summary(ctx.journal, ctx.rollout_id)
