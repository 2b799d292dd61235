"""The watchdog's process (`python -m orchestrator.cli.watchdog`, as
swap.watchdog.Watchdog.start runs it): not a verb of the CLI, but its entry point
lives here, on the top floor, since it builds the LB and the old colour's fence
from the config and the journal. What it did, or why it could not, goes to its log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg2

from orchestrator.config import load
from orchestrator.db.connect import first_line
from orchestrator.errors import GreenswapError
from orchestrator.runbook.fleet import Fleet, open_provider
from orchestrator.runbook.lease import open_journal
from orchestrator.swap.watchdog import guard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.cli.watchdog")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--rollout", type=int, required=True)
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--token", required=True)  # marks the process as this swap's
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--cli-pid", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        cfg = load(args.config)
        journal = open_journal(cfg)
        cfg.export_admin_password()
        fleet = Fleet(cfg, open_provider(cfg), print)
        did = guard(fleet.lb(), fleet.dsn(args.old), args.old, args.new, args.at,
                    args.cli_pid, lambda m: journal.record(args.rollout, "cutover", "watchdog", m))
        print(did, flush=True)
    except GreenswapError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr, flush=True)
        return exc.exit_code
    except psycopg2.Error as exc:  # as the CLI says it: one line, never a traceback
        print(f"error: PostgreSQL: {first_line(exc)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
