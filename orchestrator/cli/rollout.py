"""`greenswap plan | rollout | status | rollback | resume | abort | history | unlock`.

Terraform's and Argo's habits: `plan` is a dry run with exit code 2 when there is
something to do; `rollout` asks before it changes anything unless --yes; `status`
has --watch and --json; `unlock` is forced and recorded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.table import Table

from orchestrator.cli.output import emit_json, out, say
from orchestrator.config import Config, load
from orchestrator.errors import InputError
from orchestrator.runbook import rollout as runbook
from orchestrator.runbook.journal import PHASES, Journal, Rollout, RolloutState
from orchestrator.runbook.lease import open_journal
from orchestrator.runbook.plan import PlannedPhase, rehearse

EXIT_CHANGES = 2
WATCH_EVERY_S = 2.0
WATCH_MAX_S = 24 * 3600  # --watch is bounded too

config_option = click.option(
    "--config", "-c", "config_path", envvar="GREENSWAP_CONFIG", required=True,
    type=click.Path(path_type=Path, dir_okay=False), help="The environment's YAML file.")
keep_option = click.option("--keep-failed", is_flag=True,
                           help="On failure before cutover, keep green's hosts for a look.")
override_option = click.option(
    "--override-window", metavar="REASON", default=None,
    help="Run outside the patch window (and past its cutoff); the reason is journaled.")


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
            and latest.facts.get("app_version") == cfg.app_version)
    phases = [] if done else rehearse(cfg)  # done: the last rollout brought this version
    if as_json:
        emit_json({"environment": cfg.environment, "app_version": cfg.app_version,
                   "unfinished_rollout": latest.id if unfinished and latest else None,
                   "phases": [p.as_dict() for p in phases]})
    else:
        if unfinished and latest is not None:
            say(f"rollout {latest.id} is {latest.state}: 'greenswap resume' continues it")
        _print_plan(phases)
        if not phases and latest is not None:
            say(f"nothing to do: rollout {latest.id} already brought app {cfg.app_version}")
    sys.exit(EXIT_CHANGES if phases else 0)


def _print_plan(phases: list[PlannedPhase]) -> None:
    for n, planned in enumerate(phases, 1):
        out.print(f"{n:2}. {planned.name}: {planned.does}", soft_wrap=True)
        for line in planned.lines():
            out.print(f"      - {line}", soft_wrap=True)


@click.command("rollout")
@config_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@keep_option
@override_option
@click.option("--reason", default="by hand", show_default=True,
              help="Why this rollout runs; in the journal and the report.")
def rollout_cmd(config_path: Path, yes: bool, keep_failed: bool,
                override_window: str | None, reason: str) -> None:
    """Build green, sync, verify, cut over, bake and retire blue."""
    cfg = load(config_path)
    _check_reason(override_window)
    if not yes:
        _print_plan(rehearse(cfg))
        click.confirm(f"Roll out app {cfg.app_version} to {cfg.environment}?", abort=True)
    ctx = runbook.rollout(cfg, say, keep_failed, override_window, reason)
    _summary(ctx.journal, ctx.rollout_id)


@click.command()
@config_option
@keep_option
@override_option
def resume(config_path: Path, keep_failed: bool, override_window: str | None) -> None:
    """Continue the environment's unfinished rollout from its journal."""
    _check_reason(override_window)
    ctx = runbook.resume(load(config_path), say, keep_failed, override_window)
    _summary(ctx.journal, ctx.rollout_id)


@click.command()
@config_option
@click.option("--yes", "-y", is_flag=True)
def rollback(config_path: Path, yes: bool) -> None:
    """Swap back to blue (after cutover, before blue is retired). Loses no write."""
    cfg = load(config_path)
    if not yes:
        click.confirm(f"Roll {cfg.environment} back to blue?", abort=True)
    ctx = runbook.rollback(cfg, say)
    _summary(ctx.journal, ctx.rollout_id)


@click.command()
@config_option
@keep_option
@click.option("--yes", "-y", is_flag=True)
def abort(config_path: Path, keep_failed: bool, yes: bool) -> None:
    """End a rollout that has not cut over: green is destroyed, blue untouched."""
    cfg = load(config_path)
    if not yes:
        click.confirm(f"Abort the rollout of {cfg.environment} and destroy green?", abort=True)
    ctx = runbook.abort(cfg, say, keep_failed)
    _summary(ctx.journal, ctx.rollout_id)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--watch", "-w", is_flag=True, help=f"Refresh every {WATCH_EVERY_S:.0f}s.")
def status(config_path: Path, as_json: bool, watch: bool) -> None:
    """The latest rollout: state, phases, cutover figures and the lock."""
    cfg = load(config_path)
    journal = open_journal(cfg)
    ends = time.monotonic() + WATCH_MAX_S
    while True:
        data = status_data(cfg, journal)
        if as_json:
            emit_json(data)
        else:
            _show_status(data)
        if not watch or time.monotonic() > ends or data.get("state") not in (
                RolloutState.RUNNING, RolloutState.BAKED, None):
            return
        time.sleep(WATCH_EVERY_S)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def history(config_path: Path, as_json: bool, limit: int) -> None:
    """Past rollouts of the environment, newest first."""
    cfg = load(config_path)
    rows = open_journal(cfg).history(cfg.environment, limit)
    if as_json:
        emit_json([_rollout_data(r) for r in rows])
        return
    table = Table(title=f"rollouts of {cfg.environment}")
    for col in ("id", "started (UTC)", "state", "phase", "app", "pause ms"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.id), _when(r.started_at), r.state, r.phase or "-",
                      str(r.facts.get("app_version", "-")),
                      str(r.facts.get("cutover_pause_ms") or "-"))
    out.print(table)


@click.command()
@config_option
@click.option("--reason", required=True, help="Why; recorded in the journal.")
def unlock(config_path: Path, reason: str) -> None:
    """Break the environment's lock, whoever holds it. Forced, and recorded."""
    cfg = load(config_path)
    holder = open_journal(cfg).unlock(cfg.environment, reason)
    say(f"lock of {holder} broken" if holder else f"{cfg.environment} was not locked")


def _check_reason(reason: str | None) -> None:
    if reason is not None and not reason.strip():
        raise InputError("--override-window: give a reason; it is recorded in the journal")


def status_data(cfg: Config, journal: Journal) -> dict:
    latest = journal.latest(cfg.environment)
    holder = journal.lease_holder(cfg.environment)
    data: dict = {"environment": cfg.environment,
                  "lock": {"holder": holder[0], "rollout": holder[1],
                           "expires_in_s": round(holder[2] - time.time(), 1)} if holder else None}
    if latest is None:
        return {**data, "state": None}
    events = journal.events(latest.id)
    phases = {}
    for e in events:
        if e.phase in PHASES and e.kind in ("start", "done", "fail"):
            phases[e.phase] = {"state": e.kind, "seconds": e.data.get("seconds"),
                               "message": e.message if e.kind == "fail" else None}
    return {**data, **_rollout_data(latest), "phases": phases,
            "cutover_steps_ms": latest.facts.get("cutover_steps"),
            "last_events": [f"{_when(e.at)} {e.kind} {e.message}" for e in events[-8:]]}


def _rollout_data(r: Rollout) -> dict:
    return {"id": r.id, "state": r.state, "phase": r.phase, "started": _when(r.started_at),
            "ended": _when(r.ended_at) if r.ended_at else None, "facts": r.facts}


def _show_status(data: dict) -> None:
    if data.get("state") is None:
        out.print(f"{data['environment']}: no rollout yet")
        return
    facts = data["facts"]
    out.print(f"{data['environment']}: rollout {data['id']} [bold]{data['state']}[/]"
              f" (app {facts.get('app_version')}; blue={facts.get('blue', '?')},"
              f" green={facts.get('green', '?')})")
    table = Table()
    for col in ("phase", "state", "seconds", "note"):
        table.add_column(col)
    for name in PHASES:
        p = data["phases"].get(name)
        table.add_row(name, p["state"] if p else "-", str(p["seconds"] or "") if p else "",
                      (p["message"] or "") if p else "")
    out.print(table)
    if facts.get("cutover_pause_ms") is not None:
        out.print(f"cutover pause: {facts['cutover_pause_ms']} ms")
    if data["lock"]:
        out.print(f"locked by {data['lock']['holder']} (expires in"
                  f" {data['lock']['expires_in_s']}s)")


def _summary(journal: Journal, rollout_id: int) -> None:
    r = journal.rollout(rollout_id)
    say(f"rollout {r.id}: {r.state}")


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


COMMANDS = (plan, rollout_cmd, resume, rollback, abort, status, history, unlock)
