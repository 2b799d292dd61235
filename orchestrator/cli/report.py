"""`greenswap report ROLLOUT`: one rollout as a self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.errors import InputError
from orchestrator.ops.report import write as write_report
from orchestrator.runbook.lease import open_journal


@click.command()
@config_option
@click.argument("rollout_ref", metavar="ROLLOUT", default="latest")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write it [default: greenswap-<environment>-<id>.html here].")
def report(config_path: Path, rollout_ref: str, output: Path | None) -> None:
    """Write the report of a rollout (an id from 'greenswap history', or latest)."""
    cfg = load(config_path)
    journal = open_journal(cfg)
    if rollout_ref == "latest":
        found = journal.latest(cfg.environment)
    elif rollout_ref.isdigit():
        found = journal.rollout(int(rollout_ref))
        if found.environment != cfg.environment:
            found = None
    else:
        raise InputError(f"ROLLOUT: {rollout_ref!r} is not a rollout id or 'latest'")
    if found is None:
        raise InputError(f"ROLLOUT: environment {cfg.environment} has no rollout {rollout_ref}",
                         "see 'greenswap history'")
    path = output or Path(f"greenswap-{cfg.environment}-{found.id}.html")
    write_report(path, found, journal.events(found.id))
    say(f"report of rollout {found.id} written to {path}")
