"""The config's `checks` list: health checks run on a colour before the rollout
(preflight), before the cutover (verify) and while green bakes."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.section import URL_PATH, Section, setting_names, shown
from orchestrator.errors import ConfigError

SCOPES = ("preflight", "verify", "bake")
KINDS = ("http", "sql", "command")


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # http | sql | command
    scopes: tuple[str, ...]
    path: str = "/health"  # http: GET this on every app host of the colour, directly
    expect_status: int = 200
    query: str = ""  # sql: must return one row whose first value is true
    command: str = ""  # command: run on the controller; exit 0 is healthy
    timeout_s: float = 5.0

    @classmethod
    def read(cls, item: Section) -> Check:
        kind = item.choice("kind", KINDS)
        scopes = tuple(item.strings("scopes", default=list(SCOPES)))
        for scope in scopes:
            if scope not in SCOPES:
                raise ConfigError(f"{item.where}.scopes", f"unknown scope {shown(scope)}; "
                                  f"expected some of {', '.join(SCOPES)}")
        check = cls(
            name=item.text("name"), kind=kind, scopes=scopes,
            path=item.text("path", default=cls.path, pattern=URL_PATH),
            expect_status=item.integer("expect_status", default=cls.expect_status,
                                       low=100, high=599),
            query=item.text("query", default="") if kind == "sql" else "",
            command=item.text("command", default="") if kind == "command" else "",
            timeout_s=item.number("timeout_s", default=cls.timeout_s, low=0.1, high=300),
        )
        if kind == "sql" and not check.query:
            raise ConfigError(f"{item.where}.query", "is required for a sql check")
        if kind == "command" and not check.command:
            raise ConfigError(f"{item.where}.command", "is required for a command check")
        item.no_unknown(setting_names(cls))
        return check


def read_checks(doc: Section) -> tuple[Check, ...]:
    """Every check of the file, each with a name of its own."""
    checks = tuple(Check.read(c) for c in doc.items("checks"))
    names = [c.name for c in checks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"checks[{i}].name", f"{shown(name)} is the name of checks"
                              f"[{names.index(name)}] too", "give each check its own name:"
                              " the journal and the report tell them apart by it")
    return checks
