"""`greenswap schedule install | remove`: systemd timers for patch windows."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import say
from orchestrator.config import load
from orchestrator.ops import schedule as units

unit_dir_option = click.option(
    "--unit-dir", type=click.Path(path_type=Path, file_okay=False), show_default=True,
    default=Path("/etc/systemd/system"), help="Where the unit files go.")


@click.group()
def schedule() -> None:
    """Start rollouts when the environment's patch window opens (systemd timers)."""


@schedule.command()
@config_option
@unit_dir_option
def install(config_path: Path, unit_dir: Path) -> None:
    """Write greenswap-<env>.timer and .service for the config's window."""
    cfg = load(config_path)
    for path in units.install(cfg, config_path, unit_dir):
        say(f"wrote {path}")
    say(f"next: systemctl daemon-reload && systemctl enable --now greenswap-{cfg.environment}"
        ".timer (secrets go in /etc/greenswap/<env>.env, mode 0600)")


@schedule.command()
@config_option
@unit_dir_option
def remove(config_path: Path, unit_dir: Path) -> None:
    """Remove the environment's timer and service files."""
    cfg = load(config_path)
    gone = units.remove(cfg, unit_dir)
    for path in gone:
        say(f"removed {path}")
    if gone:
        say(f"next: systemctl disable --now greenswap-{cfg.environment}.timer; "
            "systemctl daemon-reload")
    else:
        say(f"nothing to remove for {cfg.environment} in {unit_dir}")
