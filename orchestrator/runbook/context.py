"""What every phase works with, and how a phase is run: once, journaled, resumable.

A phase is a function of the Context. `phase()` skips it when the journal says it
is done, records its start, its end (with its duration) or its failure, and checks
the lease between phases, so a rollout that lost its lock stops at the next
boundary instead of racing another one.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from orchestrator import faults
from orchestrator.config import Config
from orchestrator.db.lag import LagSample
from orchestrator.errors import GreenswapError, NotYet, OutOfOrder, PhaseFailed
from orchestrator.lb.base import LoadBalancer
from orchestrator.lease import Lease
from orchestrator.ops.notify import Webhook, secret_values
from orchestrator.rollouts import PHASES, Phase
from orchestrator.runbook.controller import Controller, ThisMachine
from orchestrator.runbook.fleet import Fleet, open_provider
from orchestrator.runbook.journal import Journal
from orchestrator.swap import for_config as swap_for
from orchestrator.swap.cutover import Swap
from orchestrator.swap.parts import Parts, Stoppable, SwapData, Swapper
from orchestrator.swap.watchdog import Arming

Say = Callable[[str], None]


def _worth_telling(phase: str | None, kind: str) -> bool:
    """What reaches the webhook: start, each phase's end, failures, rollbacks, the end."""
    return (kind in ("done", "fail", "end", "resume", "window")
            or (kind == "start" and phase in ("preflight", "rollback")))


@dataclass
class Context:
    cfg: Config
    journal: Journal
    rollout_id: int
    fleet: Fleet
    lease: Lease | None = None
    say: Say = lambda _m: None
    keep_failed: bool = False
    facts: dict = field(default_factory=dict)
    controller: Controller = field(default_factory=ThisMachine)
    bake_for_s: float | None = None  # resume --bake-s: this command's bake, if shorter

    @cached_property
    def lb(self) -> LoadBalancer:
        return self.fleet.lb()

    @property
    def blue(self) -> str:
        """The colour label that was live when this rollout began."""
        return self.facts["blue"]

    @property
    def green(self) -> str:
        return self.facts["green"]

    @cached_property
    def swapper(self) -> Swapper:
        """The swap of the config's database.mode, given what it works with."""
        data = None if self.cfg.database.shared else self.sync  # a shared one has no sync
        return swap_for(Parts(
            self.cfg, self.lb, data, self.fleet, {"blue": self.blue, "green": self.green},
            self.run_dir, self, self.controller, self._arm, self.check, self._lease_check))

    def _arm(self, plan: Swap) -> Stoppable:
        return self.controller.arm_watchdog(Arming(
            self.cfg.path, self.cfg.environment, self.rollout_id, self.run_dir,
            self.facts[plan.old], self.facts[plan.new], self.cfg.cutover.max_pause_ms))

    def _lease_check(self) -> None:
        if self.lease is not None:
            self.lease.check()

    @cached_property
    def sync(self) -> SwapData:
        return self.fleet.sync({"blue": self.blue, "green": self.green},
                               f"{self.cfg.database.stream}_{self.rollout_id}", self.run_dir)

    @property
    def run_dir(self):
        return self.cfg.run_dir(self.rollout_id)

    @cached_property
    def webhook(self) -> Webhook | None:
        notify = self.cfg.notify
        if notify is None:
            return None
        url = os.environ.get(notify.webhook_url_env, "")
        if not url:
            # Notifications must never stop a rollout: say so, and go on without.
            self.journal.record(self.rollout_id, None, "notify",
                                f"${notify.webhook_url_env} is not set: no notifications")
            return None
        return Webhook(url, self.cfg.environment,
                       secret_values(self.cfg.database.secret_variables),
                       lambda m: self.journal.record(self.rollout_id, None, "notify", m),
                       notify.attempts, notify.timeout_s)

    def close(self) -> None:
        if "sync" in self.__dict__:  # built only if a phase needed it
            self.sync.close()
        if "lb" in self.__dict__:
            self.lb.close()
        webhook = self.__dict__.get("webhook")
        if webhook is not None:
            webhook.close()

    def sample(self, phase_name: str, direction: str, lag: LagSample | None) -> None:
        """One point of the report's charts: a stream's lag and what the LB answered."""
        data: dict = {"direction": direction}
        if lag is not None:
            data.update(lag_bytes=lag.bytes, lag_s=round(lag.seconds, 3))
        try:
            for color in (self.blue, self.green):
                data[color] = list(self.lb.responses(color))
        except GreenswapError:
            pass  # a point without the LB's counters: the LB's health is the swap's business
        self.record(phase_name, "sample", f"{direction} lag {data.get('lag_bytes', '-')} bytes",
                    **data)

    def remember(self, **facts) -> None:
        self.facts = self.journal.update_facts(self.rollout_id, **facts)

    def record(self, phase: str | None, kind: str, message: str, **data) -> None:
        self.journal.record(self.rollout_id, phase, kind, message, **data)
        if _worth_telling(phase, kind) and self.webhook is not None:
            self.webhook.send(message, {"rollout": self.rollout_id, "phase": phase,
                                        "app": self.facts.get("app_version")}, kind)

    def check(self, scope: str, color: str) -> list[str]:
        """The config's checks of `scope` against `color`, directly, recorded for the
        report; returns the failures, one line each ("check name: what failed")."""
        names = [c.name for c in self.cfg.checks_for(scope)]
        failures = self.fleet.check(scope, color)
        if names:  # the scopes are named after the phases that run them
            failed = {f.split(":")[0] for f in failures}
            self.record(scope, "checks", f"{len(names) - len(failed)}/{len(names)} {scope}"
                        f" checks passed on {color}", color=color, checks=names,
                        failures=failures)
        return failures

    def hooks(self, moment: str, **facts) -> list[str]:
        """The config's hooks for `moment`, with this rollout's facts (and `facts`),
        never its secrets. Raises HookFailed on the first that fails."""
        return self.controller.run_hooks(self.cfg.hooks[moment], moment,
                                         {**self.facts, **facts},
                                         self.cfg.database.secret_variables)

    def done(self, name: Phase) -> bool:
        return name in self.journal.done_phases(self.rollout_id)


def phase(name: Phase) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    before = PHASES[:PHASES.index(name)]

    def wrap(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        does = fn.__doc__.strip().splitlines()[0] if fn.__doc__ else ""

        @functools.wraps(fn)
        def run(ctx: Context) -> None:
            done = ctx.journal.done_phases(ctx.rollout_id)
            if name in done:
                return
            missing = [p for p in before if p not in done]
            if missing:
                raise OutOfOrder(f"phase {name} asked for before {', '.join(missing)}")
            if ctx.lease is not None:
                ctx.lease.check()
            ctx.say(f"[{name}] {does}")
            ctx.record(name, "start", f"{name} started", does=does)
            began = time.monotonic()
            try:
                fn(ctx)
            except NotYet as wait:
                ctx.record(name, "wait", wait.message)
                raise
            except Exception as exc:
                host = getattr(exc, "host", None)
                ctx.record(name, "fail", str(exc) if not isinstance(exc, GreenswapError)
                           else exc.one_line(), **({"host": host} if host else {}))
                if isinstance(exc, PhaseFailed):
                    raise
                raise PhaseFailed(name, exc, ctx.rollout_id) from exc
            seconds = round(time.monotonic() - began, 2)
            ctx.record(name, "done", f"{name} done in {seconds}s", seconds=seconds)
            ctx.say(f"[{name}] done in {seconds}s")
            faults.point(f"phase {name}")  # tests only: a crash at the phase boundary
        return run
    return wrap


def open_context(cfg: Config, journal: Journal, rollout_id: int, say: Say,
                 keep_failed: bool = False) -> Context:
    """The Context of a journaled rollout, for the runbook or a process of its own."""
    cfg.export_admin_password()
    for variable in cfg.database.secret_variables:  # known before any playbook runs
        if os.environ.get(variable):
            cfg.secret(variable)
    fleet = Fleet(cfg, open_provider(cfg), say)
    facts = journal.rollout(rollout_id).facts
    return Context(cfg, journal, rollout_id, fleet, say=say, keep_failed=keep_failed,
                   facts=facts)
