"""The config's `lease` section: where the one-rollout-per-environment lease lives."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names

BACKENDS = ("sqlite", "dynamodb")


@dataclass(frozen=True)
class Lease:
    backend: str = "sqlite"  # the journal's file; dynamodb: the table Terraform made

    @classmethod
    def read(cls, section: Section) -> Lease:
        lease = cls(backend=section.choice("backend", BACKENDS, default=cls.backend))
        section.no_unknown(setting_names(cls))
        return lease
