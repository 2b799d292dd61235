"""The config's optional `notify` section: the webhook told of a rollout's events."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.config.section import Section, setting_names

VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class Notify:
    webhook_url_env: str  # the URL carries a token: it is a secret, read from here
    attempts: int = 3
    timeout_s: float = 5.0

    @classmethod
    def read(cls, section: Section) -> Notify | None:
        if not section.raw:
            return None
        notify = cls(
            webhook_url_env=section.text("webhook_url_env", pattern=VARIABLE),
            attempts=section.integer("attempts", default=cls.attempts, low=1, high=10),
            timeout_s=section.number("timeout_s", default=cls.timeout_s, low=0.1, high=60),
        )
        section.no_unknown(setting_names(cls))
        return notify
