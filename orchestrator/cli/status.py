"""`greenswap status`: the latest rollout, its phases, cutover figures and the
lock; --watch (bounded) and --json."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from orchestrator.cli.options import config_option, when
from orchestrator.cli.output import emit_json, out
from orchestrator.config import Config, load
from orchestrator.db.mismatch import mismatch_lines
from orchestrator.db.progress import TableProgress
from orchestrator.ops.report import last_mismatches
from orchestrator.rollouts import PHASES, Rollout, RolloutState
from orchestrator.runbook.journal import Journal
from orchestrator.runbook.lease import open_journal
from orchestrator.runbook.standing import clock, standing

WATCH_EVERY_S = 2.0
WATCH_MAX_S = 24 * 3600  # --watch is bounded too


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
            show_status(data)
        if not watch or time.monotonic() > ends or data.get("state") not in (
                RolloutState.RUNNING, RolloutState.BAKED, None):
            return
        time.sleep(WATCH_EVERY_S)


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
    stand = standing(cfg, journal, latest)
    steps = latest.facts.get("cutover_steps")
    if steps is None and stand.swap is not None and stand.swap.swap == "cutover":
        steps = {s.name: s.ms for s in stand.swap.steps if s.ms is not None}  # a crash's
    return {**data, **rollout_data(latest), "phases": phases, "cutover_steps_ms": steps,
            **stand.as_dict(), "mismatches": last_mismatches(events),
            "last_events": [f"{when(e.at)} {e.kind} {e.message}" for e in events[-8:]]}


def rollout_data(r: Rollout) -> dict:
    return {"id": r.id, "state": r.state, "phase": r.phase, "started": when(r.started_at),
            "ended": when(r.ended_at) if r.ended_at else None, "facts": r.facts}


def _show_swap(data: dict) -> None:
    """The last swap, if it did not end, and what the watchdog did or will do."""
    swap = data["swap"]
    if swap is not None and swap["ended"] != "done":
        out.print(f"last swap, from {clock(swap['started_at'])}: {swap['where']}")
        unfinished = "(under way)" if swap["running"] else "(died here)"
        out.print("  " + ", ".join(
            f"{s['step']} " + (unfinished if s["ms"] is None else f"{s['ms']:.0f} ms")
            + (" (failed)" if s["failed"] else "") for s in swap["steps"]))
    for did in data["watchdog"]:
        out.print(f"watchdog at {clock(did['at'])}: {did['did']}")
    if data["watchdog_pending"]:
        dog = data["watchdog_pending"]
        out.print(f"watchdog pid {dog['pid']} armed; it acts from {clock(dog['acts_at'])} "
                  "if the swap's CLI has died")


def show_status(data: dict) -> None:
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
    copying = TableProgress.from_dict(facts.get("sync_snapshot"))
    if data["phase"] == "sync" and data["ended"] is None and copying is not None:
        out.print(f"sync: {copying.line()}")
    if facts.get("cutover_pause_ms") is not None:
        out.print(f"cutover pause: {facts['cutover_pause_ms']} ms")
    _show_swap(data)
    bake = data["bake"]
    if bake["segments"]:
        out.print(f"bake watched: {bake['watched_s']:.1f} s in {bake['segments']} segment(s)"
                  f" (bake.duration_s {bake['duration_s']:g} s)")
    if data["mismatches"]:
        found = data["mismatches"]
        out.print(f"verify: {escape(found['summary'])}")
        for row in found["rows"]:
            for line in mismatch_lines(row, found["direction"]):
                out.print(f"  {escape(line)}")
        if found["next"]:
            out.print(f"  next: {escape(found['next'])}")
    if data["ended"] is None:
        out.print(f"resume would: {data['resume_will']}")
    if data["lock"]:
        out.print(f"locked by {data['lock']['holder']} (expires in"
                  f" {data['lock']['expires_in_s']}s)")
