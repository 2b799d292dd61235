"""What a rollout would do, rehearsed: `greenswap plan` prints it, and `rollout`
shows it before it asks.

The rehearsal runs the real runbook (`run_phases`) and the rollout's real Swapper
against recording fakes of everything outside this process: the hosts, the
playbooks, the checks, the LB, the databases, the clock, the hooks and the
watchdog. What the phases asked of them, phase by phase, is the plan. So the plan
cannot drift from the engine: it is the same code, asked to act on nothing (the
model is Vitess's dry-run traffic switcher). Its journal is a throwaway one in a
temporary directory, and no secret is read.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from orchestrator.config import Config
from orchestrator.db.fakes import FakeSync
from orchestrator.db.sync import DIRECTIONS, Follower
from orchestrator.errors import RetireNotDue
from orchestrator.lb.base import LoadBalancer
from orchestrator.lb.fakes import FakeLoadBalancer, FakeWeightedLoadBalancer
from orchestrator.providers.base import Host
from orchestrator.providers.fake import FakeProvider
from orchestrator.remote.ansible import PlaybookResult
from orchestrator.rollouts import PHASES
from orchestrator.runbook.context import Context
from orchestrator.runbook.fakes import FakeFleet
from orchestrator.runbook.journal import Journal
from orchestrator.runbook.rollout import run_phases
from orchestrator.swap.watchdog import Arming

# Where a provider's green hosts come from, for the plan's line; others create them.
SOURCES = {"static": "taken from the inventory's released pool"}
FENCED_AT = 42  # the position the fake fence returns: the final catch-up's target


@dataclasses.dataclass
class PlannedPhase:
    name: str
    does: str  # the phase's own summary (its docstring's first line)
    steps: dict[str, int] = dataclasses.field(default_factory=dict)  # step -> times asked
    # Asked from another thread (the swap's sequences and unfence, beside the final
    # catch-up): their order against the others is not fixed, so they come last.
    alongside: list[str] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"{step} (x{n})" if n > 1 else step for step, n in self.steps.items()]
                + [f"alongside the catch-up: {step}" for step in self.alongside])

    def as_dict(self) -> dict:
        return {"phase": self.name, "does": self.does, "steps": self.lines()}


class Recorder:
    """The plan as the rehearsal writes it: phases, and the steps each asked for."""

    def __init__(self) -> None:
        self.phases: dict[str, PlannedPhase] = {}
        self.current: PlannedPhase | None = None
        self._main = threading.get_ident()

    def begin(self, name: str, does: str) -> None:
        self.current = self.phases.setdefault(name, PlannedPhase(name, does))

    def step(self, text: str) -> None:
        if self.current is None:
            return
        if threading.get_ident() != self._main:
            self.current.alongside.append(text)
        else:
            self.current.steps[text] = self.current.steps.get(text, 0) + 1


def rehearse(cfg: Config) -> list[PlannedPhase]:
    """Every phase of a rollout of `cfg`, in order, with what it would ask for. A
    phase that would fail here (against fakes that agree to everything: a config
    the engine refuses) raises its PhaseFailed."""
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="greenswap-plan-") as scratch:
        # No webhook is sent and no secret read: the rehearsal's config has none to
        # use. What the steps write (journal, step log) goes to the scratch directory.
        cfg = dataclasses.replace(cfg, notify=None, state_dir=Path(scratch))
        journal = _RehearsalJournal(Path(scratch), recorder)
        rollout_id = journal.start(cfg.environment, {"app_version": cfg.app.version})
        clock = _RehearsalController(recorder)
        ctx = Context(cfg, journal, rollout_id, _RehearsalFleet(cfg, recorder),
                      controller=clock,
                      facts=journal.update_facts(rollout_id, window_override="rehearsal"))
        try:
            _run(ctx, recorder, clock)
        finally:
            ctx.close()
    return [recorder.phases[p] for p in PHASES if p in recorder.phases]


def _run(ctx: Context, recorder: Recorder, clock: _RehearsalController) -> None:
    try:
        run_phases(ctx)
    except RetireNotDue as wait:  # blue is kept: the rollout ends 'baked' for now
        recorder.step(f"the rollout stops here, state baked: {wait.message};"
                      " 'greenswap resume' (or the patch window's timer) goes on")
        clock.at = max(clock.at, wait.due)
        run_phases(ctx)  # what is done is skipped, as on a resume


class _RehearsalJournal(Journal):
    """A real journal in a scratch directory that also tells the recorder where each
    phase begins."""

    def __init__(self, directory: Path, recorder: Recorder) -> None:
        super().__init__(directory)
        self.recorder = recorder

    def record(self, rollout_id: int, phase: str | None, kind: str, message: str,
               **data) -> None:
        if kind == "start" and phase in PHASES:
            self.recorder.begin(phase, str(data.get("does", "")))
        super().record(rollout_id, phase, kind, message, **data)


class _RehearsalController:
    """A clock that moves only when the runbook sleeps; hooks and the watchdog noted,
    never run."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder, self.at = recorder, time.time()

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.recorder.step(f"wait {seconds:g} s")
        self.at += seconds

    def run_hooks(self, paths: tuple[Path, ...], moment: str, facts: dict[str, object],
                  hide: tuple[str, ...]) -> list[str]:
        if paths:
            self.recorder.step(f"hooks {moment}: {', '.join(str(p) for p in paths)}")
        return []

    def arm_watchdog(self, arming: Arming) -> _Nothing:
        self.recorder.step(f"watchdog: armed; if greenswap dies mid-swap it puts"
                           f" {arming.old} back once the pause bound has passed")
        return _Nothing()


class _Nothing:
    def stop(self) -> None:
        pass


class _RehearsalFleet(FakeFleet):
    """Blue's hosts as fakes (as many as green will have); every playbook, check, LB
    call and database call noted and agreed to."""

    def __init__(self, cfg: Config, recorder: Recorder) -> None:
        lb: LoadBalancer = (FakeLoadBalancer() if cfg.lb.kind == "haproxy"
                            else FakeWeightedLoadBalancer())
        sync = _RehearsalSync(recorder.step)
        super().__init__(cfg, _Noted(lb, _lb_steps(cfg), recorder.step),
                         _Noted(sync, _sync_steps(cfg), recorder.step),
                         _RehearsalProvider(cfg, recorder))
        self.recorder = recorder

    def playbook(self, key: str, target: str, limit: str | None = None,
                 **extravars: object) -> PlaybookResult:
        given = ", ".join(f"{k}={v}" for k, v in extravars.items())
        self.recorder.step(f"ansible: {Path(self.cfg.playbook(key)).name} on {target}"
                           + (f" ({given})" if given else ""))
        return super().playbook(key, target, limit, **extravars)

    def check(self, scope: str, color: str) -> list[str]:
        names = [c.name for c in self.cfg.checks_for(scope)]
        if names:
            self.recorder.step(f"checks: {scope} checks on {color} ({', '.join(names)})")
        return super().check(scope, color)


class _RehearsalProvider(FakeProvider):
    """Blue exists; green is created (and an image baked) on demand, each noted."""

    def __init__(self, cfg: Config, recorder: Recorder) -> None:
        super().__init__()
        self.cfg, self.recorder = cfg, recorder
        self.image_id: str | None = None
        # What the AWS provider is given as provider.bake_from; other kinds have none.
        self.base_image: str | None = getattr(cfg.provider.settings, "bake_from", None)
        for role, count in cfg.provider.green_hosts.items():
            super().create_hosts(role, count, "blue")

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        source = SOURCES.get(self.cfg.provider.kind,
                              f"created by the {self.cfg.provider.kind} provider")
        self.recorder.step(f"hosts: {count} {color} {role} host(s), {source}")
        return super().create_hosts(role, count, color)

    def destroy_hosts(self, names: Iterable[str]) -> None:
        names = list(names)
        self.recorder.step(f"hosts: destroy {', '.join(names)}")
        super().destroy_hosts(names)

    def bake_image(self, base_image: str, patch: Callable[[list[Host]], None],
                   name: str) -> str:
        self.recorder.step(f"image: bake {name} from {base_image} on a temporary instance")
        patch([Host(f"{name}-builder", "app", None, "198.18.0.2")])
        return f"{name}-image"


class _RehearsalSync(FakeSync):
    """The data side, caught up at once; its follower is noted too."""

    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__()
        self.note = note

    def follow(self, direction: str) -> Follower:
        source = DIRECTIONS[direction][0]
        follower = super().follow(direction)
        return _Noted(follower, {
            "wait_for": lambda lsn, _deadline: (
                f"replay: catch up to {source}'s final position, the fence's"
                if lsn == FENCED_AT else
                f"replay: catch up to {source}'s position of a moment ago, before the hold"),
            "stop": lambda: "replay: stop the in-process stream"}, self.note)

    def fence(self, color: str) -> int:
        super().fence(color)
        return FENCED_AT



class _Noted:
    """A fake whose calls named in `steps` are noted (as steps[name](*args) says)
    before they run; every other attribute is the fake's own."""

    def __init__(self, fake: object, steps: dict[str, Callable[..., str]],
                 note: Callable[[str], None]) -> None:
        self._fake, self._steps, self._note = fake, steps, note

    def __getattr__(self, name: str):
        found = getattr(self._fake, name)
        say = self._steps.get(name)
        if say is None:
            return found

        def noted(*args, **kwargs):
            self._note(say(*args, **kwargs))
            return found(*args, **kwargs)
        return noted


def _lb_steps(cfg: Config) -> dict[str, Callable[..., str]]:
    hold_ms = cfg.cutover.max_pause_ms + 1000
    return {
        "flip": lambda color, release=False: f"LB: every new request to {color}"
                + (", then release those held" if release else ""),
        "hold": lambda: f"LB: hold new requests (the LB's own bound: {hold_ms} ms)",
        "release": lambda: "LB: let any held request go",
        "shift": lambda color, percent: f"LB: {percent}% of new requests to {color}",
        "inflight": lambda color: (f"LB: wait until {color} answers nothing in flight (at"
                                   f" most {cfg.cutover.inflight_timeout_ms} ms)"),
        "wait_healthy": lambda color, count, deadline_s: (
            f"LB: wait until {count} {color} server(s) pass its health checks"
            f" (at most {deadline_s:g} s)"),
    }


def _sync_steps(cfg: Config) -> dict[str, Callable[..., str]]:
    db = cfg.database
    transform = db.transform.name if db.transform else "the transform"
    through = {"forward": f"f ({transform})", "reverse": f"the inverse g ({transform})"}

    def way(direction: str) -> str:
        source, target = DIRECTIONS[direction]
        return f"{direction} stream, {source} -> {target} through {through[direction]}"

    def migrations(color: str, paths: Sequence[Path], user: str, _applied) -> str:
        names = ", ".join(p.name for p in paths) or "none"
        return f"database: {color} gets its migrations ({names}) as role {user}, each once"

    return {
        "check_source": lambda d: (
            f"database: {DIRECTIONS[d][0]} can be followed (every table {transform} reads"
            f" has a key or replica identity; wal_level logical; 2 free slots and WAL"
            f" senders; {db.admin_user}'s grants; slots under half of"
            f" {db.max_slot_wal_mb} MiB of WAL)"),
        "migrate": migrations,
        "start": lambda d: f"replay: {way(d)}, in the background",
        "verify": lambda d: (f"verify: every key of {DIRECTIONS[d][1]} against"
                             f" f({DIRECTIONS[d][0]}), both as of one point in"
                             f" {DIRECTIONS[d][0]}'s log"),
        "prepare": lambda d: f"replay: {d} stream's connections and catalogs ready",
        "follow": lambda d: f"replay: {d} stream taken into this process",
        "drop": lambda d: f"replay: drop the {d} stream and its slot, if any",
        "anchor": lambda d: f"replay: {way(d)}, its slot made at the fence's position",
        "fence": lambda color: f"database: fence {color} (its writers end, no new writes)",
        "unfence": lambda color: f"database: {color} takes writes (unfenced)",
        "lag_bytes": lambda d: (f"replay: wait until the {d} stream is under"
                                f" {cfg.cutover.lag_threshold_bytes} bytes behind"),
        "long_writers": lambda color, older_than_s: (
            f"database: wait for {color}'s transactions writing longer than"
            f" {older_than_s:g} s to end (the fence would roll them back)"),
        "sequences": lambda d: (f"database: sequences {DIRECTIONS[d][0]} -> "
                                f"{DIRECTIONS[d][1]}"),
    }
