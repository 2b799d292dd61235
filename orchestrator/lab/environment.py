"""The sample app's environments on lab hosts: deploy a colour, patch a host, look.

This is what `make demo` drives, and what integration tests stand on: real
playbooks through ansible-runner, real SSH through paramiko, the real HAProxy.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

from orchestrator import config
from orchestrator.config import Config
from orchestrator.errors import InputError, RemoteError
from orchestrator.lab import network
from orchestrator.lab.keys import write_secret
from orchestrator.lab.lab import Lab, Say
from orchestrator.lab.packages import APP, APP_SOURCE, BASE
from orchestrator.lb.haproxy import HAProxyLB
from orchestrator.remote.ansible import PlaybookResult, run_playbook
from orchestrator.remote.ssh import SSHShell
from orchestrator.secrets import scram_sha256

SCHEMAS = {"1.0": APP_SOURCE / "schema_v1.sql", "2.0": APP_SOURCE / "schema_v2.sql"}
SAMPLE_CONFIG = APP_SOURCE / "rollout.yml"


class LabEnvironment:
    def __init__(self, lab: Lab, say: Say = lambda _m: None) -> None:
        self.lab = lab
        self.say = say

    def _secret(self, name: str) -> str:
        """One of the lab's own secrets: made once, kept 0600, handed over only in env."""
        path = self.lab.settings.state_dir / "secrets" / name
        if not path.exists():
            write_secret(path, secrets.token_urlsafe(24).encode())
        return path.read_text().strip()

    def db_password(self) -> str:
        return self._secret("db_password")

    def admin_password(self) -> str:
        return self._secret("db_admin_password")

    def secrets(self) -> dict[str, str]:
        """The lab's passwords as the environment a rollout (or a playbook) reads."""
        password, admin = self.db_password(), self.admin_password()
        return {"GREENSWAP_DB_PASSWORD": password,
                "GREENSWAP_DB_PASSWORD_SCRAM": scram_sha256(password),
                "GREENSWAP_DB_ADMIN_PASSWORD": admin,
                "GREENSWAP_DB_ADMIN_PASSWORD_SCRAM": scram_sha256(admin)}

    def playbook(self, name: str, limit: str | None = None, admin_user: str = "greenswap",
                 **extravars: object) -> PlaybookResult:
        self.check_route()
        self.say(f"ansible: {name} {' '.join(f'{k}={v}' for k, v in extravars.items())}")
        return run_playbook(
            name, self.lab.settings.inventory_path, self.lab.settings.state_dir / "runs",
            extravars=extravars, limit=limit,
            secrets={**self.secrets(), "GREENSWAP_DB_ADMIN_USER": admin_user},
        ).raise_for_failure()

    def deploy(self, color: str, app_version: str, cfg: Config | None = None,
               schema_file: Path | None = None) -> None:
        """An app as a rollout of `cfg` would leave it (by default the sample app, from
        its own rollout.yml): the database under the config's names with
        `schema_file` (the sample's schema of that version), the app on every app
        host through the config's deploy playbook, the LB."""
        if schema_file is None:
            if app_version not in SCHEMAS:
                raise InputError(f"app_version: no sample app {app_version!r}; have 1.0 and"
                                 " 2.0")
            schema_file = SCHEMAS[app_version]
        cfg = cfg or config.load(SAMPLE_CONFIG)
        db_host = next(r.address for r in self.lab.records()
                       if (r.role, r.color) == ("db", color))
        self.playbook("postgres.yml", target=f"{color}_db",
                      allowed_cidr=str(self.lab.settings.subnet),
                      schema_file=str(schema_file),
                      admin_user=cfg.database.admin_user, **cfg.database.names())
        self.playbook(cfg.playbook("app"), target=f"{color}_app",
                      **{**cfg.deploy_inputs(db_host), "app_version": app_version})
        self.playbook("haproxy.yml", target="lb", app_port=cfg.app.port,
                      health_path=cfg.app.health_path)

    def patch(self, host: str) -> PlaybookResult:
        return self.playbook("patch.yml", limit=host, target=host)

    def shell(self, host: str) -> SSHShell:
        recs = {r.name: r for r in self.lab.records()}
        if host not in recs:
            raise InputError(f"host: no lab host named {host!r}")
        network.check_on_bridge(recs[host].address, self.lab.settings.bridge)
        return SSHShell(host, recs[host].address, self.lab.key_path, self.lab.known_hosts)

    def check_route(self) -> None:
        """Lab traffic goes to the lab bridge or nowhere (a missing bridge would send
        198.18.x.y out of the machine's default route)."""
        network.check_on_bridge(str(self.lab.settings.address(0)), self.lab.settings.bridge)

    def get_json(self, url: str, timeout_s: float = 5.0) -> dict:
        """GET a lab URL, never through a proxy from the environment."""
        self.check_route()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise RemoteError(f"GET {url} failed: {exc}") from None

    def lb(self, host: str = "lb-1") -> HAProxyLB:
        return HAProxyLB.over_ssh(self.shell(host))

    def package_versions(self, host: str, packages: tuple[str, ...] = (BASE, APP)) -> dict:
        fmt = "${Package} ${db:Status-Abbrev} ${Version}\\n"
        with self.shell(host) as sh:
            result = sh.run(f"dpkg-query -W -f '{fmt}' {' '.join(packages)}")
        versions = dict.fromkeys(packages, "-")
        for line in result.stdout.splitlines():
            name, status, version = (line.split() + ["", "", ""])[:3]
            if status[1:2] == "i":  # installed (ii), or installed and held (hi)
                versions[name] = version
        return versions

    def inventory(self) -> Path:
        return self.lab.settings.inventory_path
