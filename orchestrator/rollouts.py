"""What a rollout is, as the journal keeps it: its phases in the order they run,
its states, the rollout and its events. The ground floor: the runbook, the
journal, ops/ and swap/ all speak of rollouts in these words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """The runbook's phases, in the order they run (rollout.py runs them): a phase
    runs only once every phase before it is done."""

    PREFLIGHT = "preflight"
    PROVISION = "provision"
    PATCH = "patch"
    DEPLOY = "deploy"
    SCHEMA = "schema"
    SYNC = "sync"
    VERIFY = "verify"
    CUTOVER = "cutover"
    BAKE = "bake"
    RETIRE = "retire"


PHASES = tuple(Phase)


class RolloutState(StrEnum):
    """A rollout's state as the journal keeps it (the text is what the journal holds).
    It only moves forward: once a rollout has ended, its state is final."""

    RUNNING = "running"
    FAILED_CUTOVER = "failed-cutover"  # blue serves; green kept; 'resume' tries again
    BAKED = "baked"  # green live; blue kept until retire.keep_blue_s
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True)
class Rollout:
    id: int
    environment: str
    started_at: float
    ended_at: float | None
    state: str
    phase: str | None
    facts: dict


@dataclass(frozen=True)
class Event:
    rollout_id: int
    at: float
    phase: str | None
    kind: str
    message: str
    data: dict
