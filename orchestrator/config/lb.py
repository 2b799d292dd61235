"""The config's `lb` section: which load balancer driver, and where it runs."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names

KINDS = ("haproxy", "aws-alb")


@dataclass(frozen=True)
class Lb:
    kind: str
    host: str | None = None  # haproxy: the LB host, as the provider names it

    @classmethod
    def read(cls, section: Section) -> Lb:
        lb = cls(kind=section.choice("kind", KINDS), host=section.optional_text("host"))
        section.no_unknown(setting_names(cls))
        return lb
