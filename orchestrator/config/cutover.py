"""The config's `cutover` section: how close the stream must be before the swap, and
how long the pause and the whole cutover may take."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names
from orchestrator.errors import ConfigError


@dataclass(frozen=True)
class Cutover:
    lag_threshold_bytes: int = 1 << 20
    max_pause_ms: int = 1000  # hold to flip, or the swap aborts; the LB holds 1 s longer
    deadline_ms: int = 30000  # the whole cutover, waiting for low lag included
    inflight_timeout_ms: int = 2000
    # Shared database only: percent of requests on green at each step, and how long
    # green is watched (its bake checks) before the next step.
    canary_steps: tuple[int, ...] = (100,)
    canary_interval_s: float = 30.0

    @classmethod
    def read(cls, section: Section) -> Cutover:
        d = cls()
        cutover = cls(
            lag_threshold_bytes=section.integer("lag_threshold_bytes",
                                                default=d.lag_threshold_bytes, low=0),
            max_pause_ms=section.integer("max_pause_ms", default=d.max_pause_ms, low=50,
                                         high=60_000),
            deadline_ms=section.integer("deadline_ms", default=d.deadline_ms, low=100,
                                        high=3_600_000),
            inflight_timeout_ms=section.integer("inflight_timeout_ms",
                                                default=d.inflight_timeout_ms, low=0),
            canary_steps=_canary_steps(section),
            canary_interval_s=section.number("canary_interval_s", default=d.canary_interval_s,
                                             low=0, high=3600),
        )
        section.no_unknown(setting_names(cls))
        if cutover.max_pause_ms >= cutover.deadline_ms:
            raise ConfigError("cutover.max_pause_ms", "must be shorter than cutover.deadline_ms",
                              "the pause is one part of the whole cutover")
        return cutover

    @property
    def canary(self) -> bool:
        """Whether green takes requests in steps, rather than all at once."""
        return self.canary_steps != (100,)


def _canary_steps(section: Section) -> tuple[int, ...]:
    raw = section.raw.get("canary_steps") or [100]
    steps = tuple(raw) if isinstance(raw, list) else (raw,)
    if (not all(isinstance(p, int) and not isinstance(p, bool) for p in steps)
            or list(steps) != sorted(set(steps)) or steps[0] <= 0 or steps[-1] != 100):
        raise ConfigError("cutover.canary_steps", f"{list(steps)} must be whole percents "
                          "rising strictly to 100, for example [10, 50, 100]")
    return steps
