"""The config's `playbooks` and `hooks` sections: greenswap's own playbooks by name,
and the operator's executables run at the cutover's moments."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.config.section import Section, shown
from orchestrator.errors import ConfigError
from orchestrator.remote.ansible import PLAYBOOKS

OWN = {"patch": "patch.yml", "db": "postgres.yml", "lb": "haproxy.yml"}
HOOK_MOMENTS = ("before_cutover", "after_cutover", "on_failure", "on_rollback")


def read_playbooks(section: Section) -> dict[str, str]:
    if "app" in section.raw:
        raise ConfigError("playbooks.app", "is gone: the app's own deploy playbook is named by"
                          " app.deploy", "move it to app.deploy (see docs/app-contract.md)")
    # greenswap's own playbooks live in its playbooks/ directory, and only there.
    books = {k: section.text(k, default=v, pattern=re.compile(r"^[\w.-]+\.ya?ml$"))
             for k, v in OWN.items()}
    for key, name in books.items():
        if not (PLAYBOOKS / name).is_file():
            have = ", ".join(sorted(p.name for p in PLAYBOOKS.glob("*.yml")))
            raise ConfigError(f"playbooks.{key}", f"{shown(name)} is not one of greenswap's"
                              f" playbooks ({have})")
    section.no_unknown(set(OWN))
    return books


def read_hooks(section: Section) -> dict[str, tuple[Path, ...]]:
    hooks = {moment: tuple(section.files(moment, executable=True)) for moment in HOOK_MOMENTS}
    section.no_unknown(set(HOOK_MOMENTS))
    return hooks
