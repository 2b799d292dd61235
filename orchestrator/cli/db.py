"""`greenswap db prepare`: a blue database greenswap did not build, made ready."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestrator.cli.options import config_option
from orchestrator.cli.output import out, say
from orchestrator.config import load
from orchestrator.db import prepare as preparing
from orchestrator.errors import InputError
from orchestrator.secrets import scram_sha256


@click.group()
def db() -> None:
    """The databases of an environment."""


@db.command()
@config_option
@click.option("--apply", "apply_it", is_flag=True,
              help="Run it on blue as a superuser (--superuser-dsn) instead of printing it.")
@click.option("--superuser-dsn", envvar="GREENSWAP_SUPERUSER_DSN", default=None,
              help="With --apply: blue's database as a superuser; the password in PGPASSWORD.")
def prepare(config_path: Path, apply_it: bool, superuser_dsn: str | None) -> None:
    """Print the SQL and settings that make blue's PostgreSQL ready for a swap (the
    role greenswap's preflight checks for); with --apply, run them."""
    cfg = load(config_path)
    db = cfg.database
    if not apply_it:
        out.print(f"-- On blue's database {db.dbname}, as a superuser:", markup=False)
        out.print(preparing.role_sql(db.admin_user, db.app_user), markup=False)
        out.print(f"\\password {db.admin_user}", markup=False)
        out.print("-- Server settings (at least these; a restart applies them):", markup=False)
        out.print(preparing.settings_sql(), markup=False)
        out.print(f"-- pg_hba.conf: let this machine connect as {db.admin_user} to"
                  f" {db.dbname}, e.g.\n-- host  {db.dbname}  {db.admin_user}"
                  "  <this machine's address>/32  scram-sha-256", markup=False)
        return
    if not superuser_dsn:
        raise InputError("--superuser-dsn: required with --apply (or GREENSWAP_SUPERUSER_DSN)")
    password = os.environ.get(db.admin_password_env, "")
    left = preparing.apply(superuser_dsn, db.admin_user, db.app_user,
                           scram_sha256(password) if password else "")
    say(f"greenswap's role {db.admin_user} is ready on {db.dbname}"
        + ("" if password else f" (no password set: ${db.admin_password_env} is empty)"))
    for line in left:
        say(line)
