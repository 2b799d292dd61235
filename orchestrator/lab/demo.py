"""`make demo`'s rollout: the sample app v1 -> v2 in the lab, under a bounded load
through the LB, ending with what an operator wants to see: the summary, the
report, and the commands that read the same journal again."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

from rich.table import Table

from orchestrator import config
from orchestrator.errors import PhaseFailed
from orchestrator.lab.environment import SAMPLE_CONFIG, LabEnvironment
from orchestrator.lab.loadgen import Load
from orchestrator.lab.provider import LabConfig
from orchestrator.ops.report import write as write_report
from orchestrator.rollouts import RolloutState
from orchestrator.runbook import rollout
from orchestrator.runbook.lease import open_journal

RATE = 100.0  # requests/s, each a write and a read-back


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    rollout_id: int | None
    state: str  # the journal's (succeeded, rolled-back, failed, ...), or "not started"
    requests: int
    failed_requests: int
    stale_reads: int
    lost_writes: int
    writes: int
    pause_ms: float | None
    verified_keys: int | None
    lag_bytes: int | None
    phase_seconds: dict[str, float]
    seconds: float
    failure: str | None  # the rollout's one-line error
    report: str | None  # the HTML report's path
    commands: list[str]  # what reads this rollout's journal again

    def problems(self) -> list[str]:
        """What keeps this demo from being a clean swap; empty when it was one."""
        found = ([] if self.state == RolloutState.SUCCEEDED
                 else [f"the rollout ended {self.state}"])
        for count, what in ((self.failed_requests, "failed requests"),
                            (self.stale_reads, "stale reads"),
                            (self.lost_writes, "lost acknowledged writes")):
            if count:
                found.append(f"{count} {what}")
        return found

    def table(self) -> Table:
        table = Table(title=f"rollout {self.rollout_id or '-'}: {self.state}")
        table.add_column("what")
        table.add_column("value", justify="right")
        rows = [
            ("requests (write + read back)", f"{self.requests:,}"),
            ("failed requests", str(self.failed_requests)),
            ("stale reads", str(self.stale_reads)),
            ("lost acknowledged writes", f"{self.lost_writes} of {self.writes:,}"),
            ("pause at cutover", "-" if self.pause_ms is None else f"{self.pause_ms:.0f} ms"),
            ("rows verified on green", "-" if self.verified_keys is None
             else f"{self.verified_keys:,}"),
            ("lag when sync was done", "-" if self.lag_bytes is None
             else f"{self.lag_bytes:,} bytes"),
            *((f"phase {name}", f"{s:.1f} s") for name, s in self.phase_seconds.items()),
            ("whole rollout", f"{self.seconds:.1f} s"),
        ]
        for what, value in rows:
            table.add_row(what, value)
        return table


def demo_config(env: LabEnvironment, sample: config.Config | None = None) -> config.Config:
    """The sample config, pointed at this lab (its journal lives and dies with the lab)."""
    settings = env.lab.settings
    cfg = sample or config.load(SAMPLE_CONFIG)
    lab = LabConfig(settings.name, settings.state_root, settings.inventory_path.parent)
    return dataclasses.replace(cfg, provider=dataclasses.replace(cfg.provider, settings=lab),
                               state_dir=lab.state_dir)


def rollout_under_load(env: LabEnvironment, say) -> DemoSummary:
    os.environ.update(env.secrets())  # the lab's own secrets, handed over in env only
    sample = config.load(SAMPLE_CONFIG)
    cfg = demo_config(env, sample)
    lb = next(r.address for r in env.lab.records() if r.role == "lb")
    load = Load(f"http://{lb}", rate=RATE, workers=4, max_requests=200_000,
                max_seconds=1800, guard=lambda _u: env.check_route()).start()
    say(f"load: {RATE:.0f} writes+reads/s through the LB at {lb}, for the whole rollout")
    began = time.monotonic()
    failure = None
    try:
        rollout.rollout(cfg, say)
    except PhaseFailed as exc:
        failure = exc.one_line()
    finally:
        result = load.stop()
    seconds = time.monotonic() - began
    lost = load.lost()
    journal = open_journal(cfg)
    latest = journal.latest(cfg.environment)
    facts = latest.facts if latest else {}
    events = journal.events(latest.id) if latest else []
    report = None
    if latest is not None:
        path = cfg.run_dir(latest.id) / "report.html"
        write_report(path, latest, events)
        report = str(path)
    # The sample config names one lab; on another lab no config file on disk points
    # at this journal, so no commands rather than ones that would show nothing.
    on_sample_lab = sample.provider.settings.lab == cfg.provider.settings.lab
    commands = follow_up_commands(latest.id) if latest and on_sample_lab else []
    return DemoSummary(
        rollout_id=latest.id if latest else None,
        state=latest.state if latest else "not started",
        requests=result.requests, failed_requests=result.failures,
        stale_reads=result.stale_reads, lost_writes=len(lost), writes=len(result.writes),
        pause_ms=facts.get("cutover_pause_ms"), verified_keys=facts.get("verified_keys"),
        lag_bytes=facts.get("sync_lag_bytes"),
        phase_seconds={e.phase: float(e.data.get("seconds", 0)) for e in events
                       if e.kind == "done" and e.phase},
        seconds=round(seconds, 1), failure=failure, report=report, commands=commands,
    )


def follow_up_commands(rollout_id: int) -> list[str]:
    """The commands that read this rollout again, as this very program and config."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "greenswap" else "greenswap"
    try:
        shown = SAMPLE_CONFIG.relative_to(Path.cwd())
    except ValueError:
        shown = SAMPLE_CONFIG
    c = f"-c {shlex.quote(str(shown))}"
    return [f"{program} history {c}", f"{program} status {c}",
            f"{program} report {rollout_id} {c} -o rollout-{rollout_id}.html"]
