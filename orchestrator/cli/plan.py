"""`greenswap plan`: the dry run, Terraform's habit: exit 2 when there is
something to do, 0 when the last rollout already brought this version."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import emit_json, out, say
from orchestrator.config import load
from orchestrator.rollouts import RolloutState
from orchestrator.runbook import rollout as runbook
from orchestrator.runbook.journal import Journal
from orchestrator.runbook.plan import PlannedPhase, rehearse

EXIT_CHANGES = 2


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
def plan(config_path: Path, as_json: bool) -> None:
    """Dry run: print every step a rollout would take. Exit 0: nothing to do; 2: changes."""
    cfg = load(config_path)
    journal = Journal.existing(cfg.state_dir)
    latest = journal.latest(cfg.environment) if journal else None
    unfinished = latest is not None and latest.state in runbook.RESUMABLE
    done = (latest is not None and latest.state == RolloutState.SUCCEEDED
            and latest.facts.get("app_version") == cfg.app.version)
    phases = [] if done else rehearse(cfg)  # done: the last rollout brought this version
    if as_json:
        emit_json({"environment": cfg.environment, "app_version": cfg.app.version,
                   "unfinished_rollout": latest.id if unfinished and latest else None,
                   "phases": [p.as_dict() for p in phases]})
    else:
        if unfinished and latest is not None:
            say(f"rollout {latest.id} is {latest.state}: 'greenswap resume' continues it")
        print_plan(phases)
        for variable in cfg.database.secret_variables:  # their names were checked by load
            if not os.environ.get(variable):
                say(f"warning: ${variable} is not set: 'greenswap rollout' refuses until it is")
        if not phases and latest is not None:
            say(f"nothing to do: rollout {latest.id} already brought app {cfg.app.version}")
    sys.exit(EXIT_CHANGES if phases else 0)


def print_plan(phases: list[PlannedPhase]) -> None:
    if phases:
        say("rehearsed against fakes: host names and addresses are the rehearsal's own")
    for n, planned in enumerate(phases, 1):
        out.print(f"{n:2}. {planned.name}: {planned.does}", soft_wrap=True)
        for line in planned.lines():
            out.print(f"      - {line}", soft_wrap=True)
