"""Where a rollout stands, from what it left on disk: the journal, the swap's step
log and its watchdog's pid file. `status` shows it; `resume` says it before it
acts. It only reads: no host, LB or database is asked (where the LB's answer
decides, as after a kill during the flip, it says that `resume` asks the LB).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.config import Config
from orchestrator.runbook.journal import PHASES, Event, Journal, Phase, Rollout, TakenOver
from orchestrator.swap import watchdog
from orchestrator.swap.steplog import FLIP, SwapTrace, last_swap


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
        if self.swap is not None and self.swap.ended is None:
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


def standing(cfg: Config, journal: Journal, rollout: Rollout) -> Standing:
    events = journal.events(rollout.id)
    done = {e.phase for e in events if e.kind == "done"}
    phase = None if rollout.ended_at else next((p for p in PHASES if p not in done), None)
    run_dir = cfg.run_dir(rollout.id)
    trace = last_swap(run_dir)
    left = watchdog.pending(run_dir)
    segments = rollout.facts.get("bake_segments", [])
    bake = {"segments": len(segments), "watched_s": rollout.facts.get("bake_watched_s", 0.0),
            "duration_s": cfg.bake.duration_s}
    return Standing(rollout, phase, trace, _watchdog_did(events, trace),
                    {"pid": left[0], "acts_at": left[1]} if left else None, bake,
                    _next(cfg, rollout, phase, trace))


def swap_line(trace: SwapTrace) -> str:
    """Where a swap stopped, one line."""
    if trace.died_in:
        return f"the {trace.swap} died in step '{trace.died_in}'" + (
            f" (after '{trace.last_done}')" if trace.last_done else "")
    if trace.ended is None:
        return f"the {trace.swap} died after step '{trace.last_done or 'none'}'"
    return f"the {trace.swap} {trace.ended} (last step '{trace.last_done or 'none'}')"


def lease_line(taken: TakenOver | None) -> str:
    if taken is None:
        return "lease: taken (nobody held it)"
    return f"lease: took over from {taken.describe(time.time())}"


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(at))


def _watchdog_did(events: list[Event], trace: SwapTrace | None) -> list[dict]:
    since = trace.started_at if trace else 0.0
    return [{"at": e.at, "did": e.message} for e in events
            if e.kind == "watchdog" and e.at >= since]


def _next(cfg: Config, rollout: Rollout, phase: str | None, trace: SwapTrace | None) -> str:
    facts = rollout.facts
    if rollout.ended_at:
        return f"nothing: the rollout has ended ({rollout.state})"
    if facts.get("rollback_pending"):
        return "finish the rollback to blue that the bake began, then end rolled back"
    if trace is not None and trace.swap == "rollback" and trace.ended is None:
        return (f"go on with {phase}: a rollback by hand died mid-swap, and its watchdog "
                "kept green serving; to roll back, run 'greenswap rollback' again instead")
    if phase == Phase.CUTOVER:
        return _next_cutover(cfg, trace)
    if phase == Phase.BAKE:
        return (f"watch green for a whole bake.duration_s ({cfg.bake.duration_s:g} s) from "
                "now, whatever was watched before (resume --bake-s for less), then retire blue")
    if phase == Phase.RETIRE:
        due = facts.get("cutover_at", 0.0) + cfg.keep_blue_s
        if due > time.time():
            return (f"make sure blue is fed, and retire it from {clock(due)} "
                    "(retire.keep_blue_s after the cutover); before that it stays baked")
        return "retire blue now: retire.keep_blue_s after the cutover has passed"
    if phase is None:
        return "nothing left to run"
    return f"run {phase} and the phases after it (what is done is skipped)"


def _next_cutover(cfg: Config, trace: SwapTrace | None) -> str:
    bake = f"then bake a whole bake.duration_s ({cfg.bake.duration_s:g} s)"
    if trace is None or trace.ended == "done":
        return f"run the cutover, {bake}"
    if cfg.database.shared:
        return ("put every request back on blue (an interrupted canary), then run the canary"
                " again from its first step, each step watched a whole"
                f" cutover.canary_interval_s; {bake}")
    if trace.ended is not None:  # aborted, and undone by the CLI itself: blue serves
        return f"restart the forward stream, wait until green is caught up, cut over again; {bake}"
    if trace.last_done == FLIP:
        return f"finish the cutover (green took the traffic): start the reverse stream; {bake}"
    if trace.flipped:
        return ("ask the LB whether the flip happened: if green serves, finish the cutover;"
                f" if not, put blue back and try again; {bake}")
    return ("put blue back (unfenced, hold released) if the watchdog has not, restart the"
            f" forward stream, wait until green is caught up, cut over again; {bake}")
