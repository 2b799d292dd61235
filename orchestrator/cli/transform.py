"""`greenswap transform check`: what can be proved about a transform, before use."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit_json, say
from orchestrator.db.check import check as check_transform
from orchestrator.db.transform import load


@click.group()
def transform() -> None:
    """The user's transform module (f and its inverse g)."""


@transform.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--blue", envvar="GREENSWAP_BLUE_DSN", required=True, help="Blue's DSN.")
@click.option("--green", envvar="GREENSWAP_GREEN_DSN", required=True,
              help="Green's DSN, with the new schema already migrated.")
@click.option("--samples", default=200, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--examples", default=300, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--json", "as_json", is_flag=True)
def check(path, blue, green, samples, examples, as_json) -> None:
    """Check PATH against both schemas; prove g(f(row)) == row and purity on sampled and
    generated rows. Exit 1 (one line) on the first thing that fails."""
    reports = check_transform(load(path), blue, green, samples, examples)
    if as_json:
        emit_json([r.__dict__ for r in reports])
        return
    for r in reports:
        say(f"{r.table}: g(f(row)) == row and purity hold on {r.sampled} sampled and "
            f"{r.generated} generated rows" + "".join(f"; {n}" for n in r.notes))
