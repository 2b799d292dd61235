"""Where a rollout stands, from what it left on disk: the journal, the swap's step
log and its watchdog's pid file. `status` shows it; `resume` says it before it
acts. It only reads: no host, LB or database is asked (where the LB's answer
decides, as after a kill during the flip, it says that `resume` asks the LB).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.config import Config
from orchestrator.lease import TakenOver
from orchestrator.rollouts import PHASES, Event, Phase, Rollout
from orchestrator.runbook.journal import Journal
from orchestrator.swap import watchdog
from orchestrator.swap.steplog import SwapTrace, last_swap


@dataclass(frozen=True)
class Standing:
    rollout: Rollout
    phase: str | None  # the first phase not done: where 'resume' starts
    swap: SwapTrace | None  # the rollout's last swap, as far as it went
    watchdog: list[dict]  # what watchdogs did: {"at", "did"}
    watchdog_pending: dict | None  # {"pid", "acts_at"}: armed, and not acted yet
    bake: dict  # {"segments", "watched_s", "duration_s"}
    next: str  # what 'resume' will do, one line

    def as_dict(self) -> dict:
        swap = None if self.swap is None else {**self.swap.as_dict(),
                                                "where": swap_line(self.swap)}
        return {"resumes_at": self.phase, "swap": swap,
                "watchdog": self.watchdog, "watchdog_pending": self.watchdog_pending,
                "bake": self.bake, "resume_will": self.next}

    def resumes_at(self) -> str:
        """Where 'resume' takes the rollout up: its phase and, in a swap, its step."""
        where = f"resuming rollout {self.rollout.id} at phase {self.phase or '(none left)'}"
        if self.swap is not None and self.swap.died:
            where += f"; {swap_line(self.swap)}"
        elif self.phase == Phase.BAKE and self.bake["segments"]:
            where += (f"; {self.bake['watched_s']:.1f} s of bake watched in "
                      f"{self.bake['segments']} segment(s) so far")
        return f"{where}: {self.next}"

    def already_done(self) -> str:
        """What a watchdog, or a command before this one, did after the swap stopped."""
        did = [f"watchdog at {clock(w['at'])}: {w['did']}" for w in self.watchdog]
        if self.watchdog_pending:
            did.append(f"a watchdog (pid {self.watchdog_pending['pid']}) has not acted yet; "
                       f"it may from {clock(self.watchdog_pending['acts_at'])}")
        pending = self.rollout.facts.get("rollback_pending")
        if pending:
            did.append(f"a rollback from bake was begun ({pending})")
        return "already done: " + ("; ".join(did) if did else "nothing (no watchdog acted)")


def standing(cfg: Config, journal: Journal, rollout: Rollout,
             bake_for_s: float | None = None) -> Standing:
    """`bake_for_s`: what `resume --bake-s` asked for, if it did."""
    events = journal.events(rollout.id)
    done = journal.done_phases(rollout.id)
    phase = None if rollout.ended_at else next((p for p in PHASES if p not in done), None)
    run_dir = cfg.run_dir(rollout.id)
    trace = last_swap(run_dir)
    left = watchdog.pending(run_dir)
    segments = rollout.facts.get("bake_segments", [])
    bake = {"segments": len(segments), "watched_s": rollout.facts.get("bake_watched_s", 0.0),
            "duration_s": cfg.bake.duration_s}
    return Standing(rollout, phase, trace, _watchdog_did(events, trace),
                    {"pid": left.pid, "acts_at": left.at} if left else None, bake,
                    _next(cfg, rollout, phase, trace, bake_for_s))


def swap_line(trace: SwapTrace) -> str:
    """Where a swap is, or stopped, one line."""
    if trace.running:
        return (f"the {trace.swap} is under way (pid {trace.pid}), in step "
                f"'{trace.steps[-1].name if trace.steps else 'none'}'")
    if trace.died_in:
        return f"the {trace.swap} died in step '{trace.died_in}'" + (
            f" (after '{trace.last_done}')" if trace.last_done else "")
    if trace.ended is None:
        return f"the {trace.swap} died after step '{trace.last_done or 'none'}'"
    return f"the {trace.swap} {trace.ended} (last step done '{trace.last_done or 'none'}')"


def lease_line(taken: TakenOver | None) -> str:
    if taken is None:
        return "lease: taken (nobody held it)"
    return f"lease: took over from {taken.describe(time.time())}"


def clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _watchdog_did(events: list[Event], trace: SwapTrace | None) -> list[dict]:
    since = trace.started_at if trace else 0.0
    return [{"at": e.at, "did": e.message} for e in events
            if e.kind == "watchdog" and e.at >= since]


def _next(cfg: Config, rollout: Rollout, phase: str | None, trace: SwapTrace | None,
          bake_for_s: float | None) -> str:
    facts = rollout.facts
    if rollout.ended_at:
        return f"nothing: the rollout has ended ({rollout.state})"
    if trace is not None and trace.running:
        return "nothing while that swap runs: its command holds the lease"
    if facts.get("rollback_pending"):
        return "finish the rollback to blue that the bake began, then end rolled back"
    if trace is not None and trace.swap == "rollback" and trace.died:
        if trace.flip_begun:
            return ("refuse to bake or retire if the LB sends every request to blue (the "
                    "rollback by hand died at or after its flip): finish it with "
                    "'greenswap rollback'")
        return (f"go on with {phase}: a rollback by hand died before its flip, and its "
                "watchdog kept green serving; to roll back, run 'greenswap rollback' again")
    if phase == Phase.CUTOVER:
        return _next_cutover(cfg, trace)
    if phase == Phase.BAKE:
        if bake_for_s is not None:
            return (f"watch green for {bake_for_s:g} s from now (--bake-s; bake.duration_s is "
                    f"{cfg.bake.duration_s:g} s), then retire blue")
        return (f"watch green for a whole bake.duration_s ({cfg.bake.duration_s:g} s) from "
                "now, whatever was watched before (resume --bake-s for less), then retire blue")
    if phase == Phase.RETIRE:
        due = facts.get("cutover_at", 0.0) + cfg.retire.keep_blue_s
        if due > time.time():
            return (f"make sure blue is fed, and retire it from {clock(due)} "
                    "(retire.keep_blue_s after the cutover); before that it stays baked")
        return "retire blue now: retire.keep_blue_s after the cutover has passed"
    if phase is None:
        return "nothing left to run"
    return f"run {phase} and the phases after it (what is done is skipped)"


def _next_cutover(cfg: Config, trace: SwapTrace | None) -> str:
    bake = f"then bake a whole bake.duration_s ({cfg.bake.duration_s:g} s)"
    if trace is None or trace.swap != "cutover" or trace.ended == "done":
        return f"run the cutover, {bake}"
    if cfg.database.shared:
        return ("put every request back on blue (an interrupted canary), then run the canary"
                " again from its first step, each step watched a whole"
                f" cutover.canary_interval_s; {bake}")
    if trace.flip_done:  # whatever failed after it: only forward now
        return f"finish the cutover (green took the traffic): start the reverse stream; {bake}"
    if trace.flip_begun:
        return ("ask the LB whether the flip happened: if green serves, finish the cutover;"
                f" if not, put blue back and try again; {bake}")
    if trace.ended is not None:  # aborted, and undone by the command itself: blue serves
        return f"restart the forward stream, wait until green is caught up, cut over again; {bake}"
    return ("put blue back (unfenced, hold released) if the watchdog has not, restart the"
            f" forward stream, wait until green is caught up, cut over again; {bake}")
