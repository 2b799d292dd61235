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
from orchestrator.runbook import rollout as runbook


@click.command()
@config_option
@keep_option
@override_option
def resume(config_path: Path, keep_failed: bool, override_window: str | None) -> None:
    """Continue the environment's unfinished rollout from its journal."""
    check_reason(override_window)
    ctx = runbook.resume(load(config_path), say, keep_failed, override_window)
    summary(ctx.journal, ctx.rollout_id)
