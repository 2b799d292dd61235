"""`greenswap history`: past rollouts, newest first."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from orchestrator.cli.options import config_option, when
from orchestrator.cli.output import emit_json, out
from orchestrator.cli.status import rollout_data
from orchestrator.config import load
from orchestrator.runbook.lease import open_journal


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def history(config_path: Path, as_json: bool, limit: int) -> None:
    """Past rollouts of the environment, newest first."""
    cfg = load(config_path)
    rows = open_journal(cfg).history(cfg.environment, limit)
    if as_json:
        emit_json([rollout_data(r) for r in rows])
        return
    table = Table(title=f"rollouts of {cfg.environment}")
    for col in ("id", "started (UTC)", "state", "phase", "app", "pause ms", "bake watched s"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.id), when(r.started_at), r.state, r.phase or "-",
                      str(r.facts.get("app_version", "-")),
                      str(r.facts.get("cutover_pause_ms") or "-"),
                      str(r.facts.get("bake_watched_s", "-")))
    out.print(table)
