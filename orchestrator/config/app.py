"""The config's `app` section: the version green gets, and how it is deployed and
reached (docs/app-contract.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.section import URL_PATH, Section, setting_names


@dataclass(frozen=True)
class App:
    version: str
    deploy: Path  # the operator's deploy playbook (docs/app-contract.md)
    port: int = 8000
    release: Path | None = None  # the operator's stop playbook, for static fleets
    health_path: str = "/health"  # the LB's own health check asks it of every app host

    @classmethod
    def read(cls, section: Section) -> App:
        app = cls(
            version=section.text("version"),
            port=section.integer("port", default=cls.port, low=1, high=65535),
            deploy=section.file("deploy"),
            release=section.file("release") if section.raw.get("release") else None,
            health_path=section.text("health_path", default=cls.health_path, pattern=URL_PATH),
        )
        section.no_unknown(setting_names(cls))
        return app
