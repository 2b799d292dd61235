"""`greenswap unlock`: the environment's lock broken, forced and recorded."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.runbook.lease import open_journal


@click.command()
@config_option
@click.option("--reason", required=True, help="Why; recorded in the journal.")
def unlock(config_path: Path, reason: str) -> None:
    """Break the environment's lock, whoever holds it. Forced, and recorded."""
    cfg = load(config_path)
    holder = open_journal(cfg).unlock(cfg.environment, reason)
    say(f"lock of {holder} broken" if holder else f"{cfg.environment} was not locked")
