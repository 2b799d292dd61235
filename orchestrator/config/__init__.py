"""One environment's rollout settings: a YAML file, validated before anything runs.

Each section of the file has its own module and frozen dataclass here, which reads
and checks that section (app.py for `app`, cutover.py for `cutover`, ...); Config
composes them. Every problem is a ConfigError naming the field
(`cutover.deadline_ms: ...`), so the operator can fix the file without reading
code. Secrets are never in the file: it names the environment variables that hold
them, and they are read only when a rollout needs them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.config.app import App
from orchestrator.config.aws import Aws
from orchestrator.config.bake import Bake
from orchestrator.config.checks import Check, read_checks
from orchestrator.config.combinations import check_combination
from orchestrator.config.cutover import Cutover
from orchestrator.config.database import Database
from orchestrator.config.lb import Lb
from orchestrator.config.lease import Lease
from orchestrator.config.notify import Notify
from orchestrator.config.playbooks import read_hooks, read_playbooks
from orchestrator.config.provider import ProviderConfig
from orchestrator.config.reading import read_document
from orchestrator.config.retire import Retire
from orchestrator.config.section import Section
from orchestrator.config.window import window_settings
from orchestrator.errors import ConfigError
from orchestrator.secrets import remember
from orchestrator.window import Window

__all__ = ["App", "Aws", "Bake", "Check", "Config", "Cutover", "Database", "Lb", "Lease",
           "Notify", "ProviderConfig", "Retire", "load", "parse"]

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
STATE_DIR = Path("/var/lib/greenswap")
SECTIONS = {"environment", "provider", "database", "lb", "cutover", "app", "playbooks",
            "checks", "bake", "retire", "hooks", "state_dir", "lease", "aws", "window",
            "notify"}


@dataclass(frozen=True)
class Config:
    environment: str
    path: Path
    provider: ProviderConfig
    app: App
    database: Database
    lb: Lb
    checks: tuple[Check, ...]
    cutover: Cutover
    bake: Bake
    retire: Retire
    lease: Lease
    playbooks: dict[str, str]  # greenswap's own: patch, db, lb
    hooks: dict[str, tuple[Path, ...]]
    state_dir: Path
    aws: Aws | None = None
    window: Window | None = None  # None: rollouts may start at any time
    notify: Notify | None = None

    def playbook(self, key: str) -> str:
        """The playbook a step runs: the app's own deploy playbook (a path), or one
        of greenswap's by name."""
        return str(self.app.deploy) if key == "app" else self.playbooks[key]

    def deploy_inputs(self, db_host: str) -> dict[str, Any]:
        """The app's deploy playbook's inputs, as docs/app-contract.md defines them
        (with `target`, given by the caller, and the password in the environment)."""
        return {"app_version": self.app.version, "app_port": self.app.port,
                "health_path": self.app.health_path, "db_host": db_host,
                **self.database.names()}

    def run_dir(self, rollout_id: int) -> Path:
        """Where one rollout's logs, dead letters and report live."""
        return self.state_dir / self.environment / f"rollout-{rollout_id}"

    def checks_for(self, scope: str) -> list[Check]:
        return [c for c in self.checks if scope in c.scopes]

    def require_secrets(self) -> None:
        """Every secret a rollout needs is set; refused, naming the variable, if not."""
        for variable in self.database.secret_variables:
            self.secret(variable)

    def export_admin_password(self) -> None:
        """libpq reads the admin password from the environment, for this process and
        the replayers it starts: never on a command line, in a DSN or in a file."""
        os.environ["PGPASSWORD"] = self.secret(self.database.admin_password_env)

    def secret(self, variable: str) -> str:
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(f"${variable}", "is not set; it holds a secret the rollout needs",
                              f"export {variable} (greenswap never reads secrets from files)")
        return remember(value)


def load(path: Path) -> Config:
    return parse(read_document(path), path)


def parse(raw: Any, path: Path) -> Config:
    doc = Section(raw, "", path.parent)
    environment = doc.text("environment", pattern=NAME)  # first, as in the file
    doc.no_unknown(SECTIONS)
    database = Database.read(doc.section("database"))
    provider = ProviderConfig.read(doc.section("provider"), database.shared)
    cutover = Cutover.read(doc.section("cutover", required=False))
    bake = Bake.read(doc.section("bake", required=False))
    cfg = Config(
        environment=environment, path=path, provider=provider,
        app=App.read(doc.section("app")),
        database=database,
        lb=Lb.read(doc.section("lb")),
        checks=read_checks(doc),
        cutover=cutover,
        bake=bake,
        retire=Retire.read(doc.section("retire", required=False)),
        lease=Lease.read(doc.section("lease", required=False)),
        playbooks=read_playbooks(doc.section("playbooks", required=False)),
        hooks=read_hooks(doc.section("hooks", required=False)),
        state_dir=doc.path("state_dir", default=provider.settings.state_dir or STATE_DIR),
        aws=Aws.read(doc.section("aws", required=False)),
        window=window_settings(doc.section("window", required=False),
                               worst_case(cutover, bake)),
        notify=Notify.read(doc.section("notify", required=False)),
    )
    check_combination(cfg)
    return cfg


def worst_case(cutover: Cutover, bake: Bake) -> timedelta:
    """Of a cutover (with its canary's watched steps) and its bake: a window must be
    longer."""
    canary_s = (len(cutover.canary_steps) - 1) * cutover.canary_interval_s
    return timedelta(milliseconds=cutover.deadline_ms, seconds=bake.duration_s + canary_s)
