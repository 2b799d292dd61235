"""The config's `bake` section: how long and how closely green is watched after the
cutover, and what failure rolls it back."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names


@dataclass(frozen=True)
class Bake:
    duration_s: float = 60.0
    interval_s: float = 1.0
    failures: int = 2  # consecutive failed rounds that trigger the rollback
    max_error_rate: float = 0.01  # of 5xx answers at the LB, per round

    @classmethod
    def read(cls, section: Section) -> Bake:
        d = cls()
        bake = cls(
            duration_s=section.number("duration_s", default=d.duration_s, low=0),
            interval_s=section.number("interval_s", default=d.interval_s, low=0.1, high=3600),
            failures=section.integer("failures", default=d.failures, low=1, high=100),
            max_error_rate=section.number("max_error_rate", default=d.max_error_rate, low=0,
                                          high=1),
        )
        section.no_unknown(setting_names(cls))
        return bake
