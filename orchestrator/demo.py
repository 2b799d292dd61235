"""`make demo`'s rollout: the sample app v1 -> v2 in the lab, under a bounded load
through the LB, ending with the table an operator would want to see."""

from __future__ import annotations

import dataclasses
import os
import time

from rich.table import Table

from orchestrator import config, rollout
from orchestrator.context import PhaseFailed
from orchestrator.journal import Journal
from orchestrator.lab.environment import LabEnvironment
from orchestrator.lab.packages import APP_SOURCE
from orchestrator.lease_backends import open_journal
from orchestrator.loadgen import Load

CONFIG = APP_SOURCE / "rollout.yml"
RATE = 100.0  # requests/s, each a write and a read-back


def demo_config(env: LabEnvironment) -> config.Config:
    """The sample config, pointed at this lab; its journal lives and dies with the lab."""
    cfg = config.load(CONFIG)
    settings = env.lab.settings
    return dataclasses.replace(
        cfg, lab=settings.name, state_dir=settings.state_dir / "rollouts",
        lab_paths={"state_root": settings.state_root,
                   "inventory_dir": settings.inventory_path.parent})


def rollout_under_load(env: LabEnvironment, say) -> Table:
    os.environ.update(env.secrets())  # the lab's own secrets, handed over in env only
    cfg = demo_config(env)
    lb = next(r.address for r in env.lab.records() if r.role == "lb")
    load = Load(f"http://{lb}", rate=RATE, workers=4, max_requests=200_000,
                max_seconds=1800, guard=lambda _u: env.check_route()).start()
    say(f"load: {RATE:.0f} writes+reads/s through the LB at {lb}, for the whole rollout")
    began = time.monotonic()
    failure = None
    try:
        rollout.rollout(cfg, say)
    except PhaseFailed as exc:
        failure = exc
    finally:
        result = load.stop()
    lost = load.lost()
    journal = open_journal(cfg)
    latest = journal.latest(cfg.environment)
    table = summary(result, lost, journal, latest, time.monotonic() - began)
    if failure is not None:
        say(f"rollout failed: {failure.one_line()}")
    return table


def summary(result, lost: list[int], journal: Journal, latest, seconds: float) -> Table:
    facts = latest.facts if latest else {}
    table = Table(title=f"rollout {latest.id if latest else '-'}:"
                        f" {latest.state if latest else 'not started'}")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("requests (write + read back)", f"{result.requests:,}"),
        ("failed requests", str(result.failures)),
        ("stale reads", str(result.stale_reads)),
        ("lost acknowledged writes", f"{len(lost)} of {len(result.writes):,}"),
        ("pause at cutover", _ms(facts.get("cutover_pause_ms"))),
        ("rows verified on green", f"{facts.get('verified_keys', '-')}"),
        ("lag when sync was done", f"{facts.get('sync_lag_bytes', '-')} bytes"),
    ]
    if latest:
        for e in journal.events(latest.id):
            if e.kind == "done" and e.phase:
                rows.append((f"phase {e.phase}", f"{e.data.get('seconds', 0):.1f} s"))
    rows.append(("whole rollout", f"{seconds:.1f} s"))
    for what, value in rows:
        table.add_row(what, value)
    return table


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"
