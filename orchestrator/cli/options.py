"""What the rollout verbs share: the config, --keep-failed and --override-window
options, and how a verb ends (its rollout's state in one line)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from orchestrator.cli.output import say
from orchestrator.errors import InputError
from orchestrator.runbook.journal import Journal

config_option = click.option(
    "--config", "-c", "config_path", envvar="GREENSWAP_CONFIG", required=True,
    type=click.Path(path_type=Path, dir_okay=False), help="The environment's YAML file.")
keep_option = click.option("--keep-failed", is_flag=True,
                           help="On failure before cutover, keep green's hosts for a look.")
override_option = click.option(
    "--override-window", metavar="REASON", default=None,
    help="Run outside the patch window (and past its cutoff); the reason is journaled.")


def check_reason(reason: str | None) -> None:
    if reason is not None and not reason.strip():
        raise InputError("--override-window: give a reason; it is recorded in the journal")


def summary(journal: Journal, rollout_id: int) -> None:
    r = journal.rollout(rollout_id)
    say(f"rollout {r.id}: {r.state}")


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
