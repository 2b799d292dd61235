"""The config's `retire` section: how long blue is kept, ready for a rollback,
after the cutover."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names


@dataclass(frozen=True)
class Retire:
    keep_blue_s: float = 3600.0

    @classmethod
    def read(cls, section: Section) -> Retire:
        retire = cls(keep_blue_s=section.number("keep_blue_s", default=cls.keep_blue_s, low=0))
        section.no_unknown(setting_names(cls))
        return retire
