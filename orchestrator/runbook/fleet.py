"""The environment's machines as a rollout sees them: hosts by colour and role,
playbooks against them, the LB, and the database addresses.

Colours are labels, not roles: "blue" in a rollout is whichever colour is live when
it starts, "green" the other one. After a rollout retires blue, the next rollout
builds its green under the label that was freed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.config import Config
from orchestrator.config.provider import installed_kind
from orchestrator.db.sync import Sync
from orchestrator.errors import InputError
from orchestrator.lb.base import LoadBalancer
from orchestrator.lb.haproxy import HAProxyLB
from orchestrator.ops.checks import run_checks
from orchestrator.providers.base import Host, Provider, ProviderKind
from orchestrator.remote.ansible import PlaybookResult, run_playbook
from orchestrator.remote.ssh import SSHShell
from orchestrator.secrets import scram_sha256
from orchestrator.swap.parts import SwapData


def open_provider(cfg: Config) -> Provider:
    """The provider `provider.kind` names, found among the installed ones (the entry
    point group greenswap.providers in pyproject.toml; config.load has checked that it
    is there), so that the runbook names none of them and another package can bring
    its own."""
    kind: ProviderKind = installed_kind(cfg.provider.kind)
    return kind.open(cfg)


class Fleet:
    def __init__(self, cfg: Config, provider: Provider, say=lambda _m: None) -> None:
        self.cfg, self.provider, self.say = cfg, provider, say

    def hosts(self, color: str, role: str) -> list[Host]:
        return [h for h in self.provider.hosts() if h.color == color and h.role == role]

    def host(self, name: str) -> Host:
        for h in self.provider.hosts():
            if h.name == name:
                return h
        raise InputError(f"lb.host: no host named {name!r} in the {self.cfg.provider.kind}"
                         " provider")

    def db_host(self, color: str) -> Host:
        found = self.hosts(color, "db")
        if len(found) != 1:
            raise InputError(f"{color} has {len(found)} database hosts; a colour has exactly one")
        return found[0]

    def db_address(self, color: str) -> str:
        db = self.cfg.database
        address = db.host or self.db_host(color).address  # a host: the shared database
        self.provider.check_route(address)
        return address

    def dsn(self, color: str) -> str:
        """The admin DSN of a colour's database (with database.mode shared, the one
        both use); the password travels in PGPASSWORD."""
        db = self.cfg.database
        return (f"host={self.db_address(color)} port={db.port} dbname={db.dbname}"
                f" user={db.admin_user}")

    def app_urls(self, color: str) -> list[str]:
        return [f"http://{h.address}:{self.cfg.app.port}" for h in self.hosts(color, "app")]

    def guard(self, url: str) -> None:
        """Every request greenswap sends to a host passes here first."""
        self.provider.check_route(urlsplit(url).hostname or "")

    def check(self, scope: str, color: str) -> list[str]:
        """The config's checks of `scope` against `color`, directly; the failures."""
        return run_checks(self.cfg.checks_for(scope), color, self.app_urls, self.dsn,
                          guard=self.guard, hide=self.cfg.database.secret_variables)

    def shell(self, host: Host) -> SSHShell:
        key, known_hosts = self.provider.ssh_identity()
        self.provider.check_route(host.address)
        return SSHShell(host.name, host.address, key, known_hosts)

    def lb(self) -> LoadBalancer:
        if self.cfg.lb.kind == "aws-alb":
            from orchestrator.aws.clients import Clients
            from orchestrator.aws.outputs import read_for
            from orchestrator.lb.aws_alb import AlbLoadBalancer

            aws = self.cfg.aws
            assert aws is not None  # config: lb.kind aws-alb requires the aws section
            base = read_for(aws.terraform_outputs, self.cfg.environment)
            return AlbLoadBalancer(Clients(base.region, aws.endpoint_url), base)
        assert self.cfg.lb.host is not None  # config: lb.kind haproxy requires lb.host
        return HAProxyLB.over_ssh(self.shell(self.host(self.cfg.lb.host)))

    def sync(self, labels: dict[str, str], stream_base: str, log_dir: Path) -> SwapData:
        """The data side of a swap between the colours `labels` names ("blue" is
        whichever was live when the rollout began)."""
        db = self.cfg.database
        assert db.transform is not None  # config: every database that is synced has one
        return Sync(dsn=lambda role: self.dsn(labels[role]), transform_path=db.transform,
                    stream_base=stream_base, log_dir=log_dir,
                    max_slot_wal_mb=db.max_slot_wal_mb, app_user=db.app_user)

    def secrets(self) -> dict[str, str]:
        """The playbooks' secrets, from the environment: passwords and their verifiers."""
        app = self.cfg.secret(self.cfg.database.app_password_env)
        admin = self.cfg.secret(self.cfg.database.admin_password_env)
        # The admin password itself is listed too: ansible-runner records the whole
        # environment (PGPASSWORD included) in its artifacts, and this list is what
        # gets scrubbed from them.
        return {"GREENSWAP_DB_PASSWORD": app, "GREENSWAP_DB_PASSWORD_SCRAM": scram_sha256(app),
                "GREENSWAP_DB_ADMIN_USER": self.cfg.database.admin_user,
                "GREENSWAP_DB_ADMIN_PASSWORD": admin,
                "GREENSWAP_DB_ADMIN_PASSWORD_SCRAM": scram_sha256(admin)}

    def playbook(self, key: str, target: str, limit: str | None = None,
                 **extravars: object) -> PlaybookResult:
        name = self.cfg.playbook(key)
        self.say(f"ansible: {name} on {target}")
        return run_playbook(
            name, self.provider.inventory(), self.cfg.state_dir / self.cfg.environment / "runs",
            extravars={"target": target, **extravars}, limit=limit, secrets=self.secrets(),
            on_task=lambda task: self.say(f"  {name}: {task}") if task else None,
        ).raise_for_failure()
