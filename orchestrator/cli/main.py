"""Entry point: the command tree, and the one place errors become exit codes.

Exit codes (also in README.md):
    0  success (plan: nothing to do)
    1  an operation failed (the message says which and what to do next)
    2  plan: there are changes to make
    3  bad input or configuration; nothing was changed
    4  needs root; nothing was changed
  130  interrupted
"""

from __future__ import annotations

import sys

import click
import psycopg2

from orchestrator import __version__
from orchestrator.cli import (
    abort,
    db,
    history,
    init,
    lab,
    plan,
    replay,
    report,
    resume,
    rollback,
    rollout,
    schedule,
    status,
    transform,
    unlock,
    window,
)
from orchestrator.cli.output import emit_json, err
from orchestrator.db.connect import first_line
from orchestrator.errors import EXIT_INPUT, GreenswapError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenswap")
def cli() -> None:
    """Blue/green swaps of whole servers."""


cli.add_command(lab.lab)
cli.add_command(db.db)
cli.add_command(init.init)
cli.add_command(replay.replay)
cli.add_command(transform.transform)
cli.add_command(window.window)
cli.add_command(schedule.schedule)
cli.add_command(report.report)
for command in (plan.plan, rollout.rollout_cmd, status.status, resume.resume,
                rollback.rollback, abort.abort, history.history, unlock.unlock):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args=args, prog_name="greenswap", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("greenswap: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        # Usage errors share exit code 3 with every other kind of bad input.
        err.print(f"error: {exc.format_message()}", markup=False)
        sys.exit(EXIT_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)
    except GreenswapError as exc:
        err.print(f"error: {exc.one_line()}", markup=False, soft_wrap=True)
        if "--json" in args:  # a machine reading stdout gets the failure there too
            emit_json(exc.as_dict())
        sys.exit(exc.exit_code)
    except psycopg2.Error as exc:
        # The data commands translate what they expect; this is the net under them,
        # so that no server error ever reaches an operator as a traceback.
        err.print(f"error: PostgreSQL: {first_line(exc)} (next: fix the cause on that server,"
                  " then run the command again; replay resumes from its stored position)",
                  markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("greenswap: interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
