"""One environment's rollout settings: a YAML file, validated before anything runs.

Every problem is a ConfigError naming the field (`cutover.deadline_ms: ...`), so
the operator can fix the file without reading code. Secrets are never in the file:
it names the environment variables that hold them, and they are read only when a
rollout needs them.
"""

from __future__ import annotations

import os
import re
from dataclasses import MISSING, dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.config.combinations import check_combination
from orchestrator.config.reading import read_document
from orchestrator.config.section import REQUIRED, SHELL_NAME, Section, shown
from orchestrator.config.window import window_settings
from orchestrator.errors import ConfigError
from orchestrator.ops.window import Window
from orchestrator.remote.ansible import PLAYBOOKS
from orchestrator.secrets import remember

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SCOPES = ("preflight", "verify", "bake")
HOOK_MOMENTS = ("before_cutover", "after_cutover", "on_failure", "on_rollback")
PROVIDERS = ("lab", "static", "aws")
LB_KINDS = ("haproxy", "aws-alb")
DATABASE_MODES = ("swap", "shared")
PROVIDER_FIELDS = {"lab": {"lab", "state_root", "inventory_dir"},
                   "static": {"inventory", "ssh_key", "known_hosts"},
                   "aws": {"ssh_key", "image_id", "bake_from"}}
LEASE_BACKENDS = ("sqlite", "dynamodb")
STATE_DIR = Path("/var/lib/greenswap")
LAB_STATE_ROOT = STATE_DIR / "labs"  # provider.state_root: each lab's state is in <root>/<lab>


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


CHECK_DEFAULTS = {f.name: f.default for f in fields(Check) if f.default is not MISSING}


@dataclass(frozen=True)
class Cutover:
    lag_threshold_bytes: int = 1 << 20
    max_pause_ms: int = 1000  # hold to flip, or the swap aborts; the LB holds 1 s longer
    deadline_ms: int = 30000  # the whole cutover, waiting for low lag included
    inflight_timeout_ms: int = 2000
    # Shared database only: percent of requests on green at each step, and how long
    # green is watched (its bake checks) before the next step.
    canary_steps: tuple[int, ...] = (100,)
    canary_interval_s: float = 30.0


@dataclass(frozen=True)
class Bake:
    duration_s: float = 60.0
    interval_s: float = 1.0
    failures: int = 2  # consecutive failed rounds that trigger the rollback
    max_error_rate: float = 0.01  # of 5xx answers at the LB, per round


@dataclass(frozen=True)
class Database:
    port: int = 5432
    dbname: str = "app"
    admin_user: str = "greenswap"
    app_user: str = "app"  # owns the schema; migrations run as this role
    admin_password_env: str = "GREENSWAP_DB_ADMIN_PASSWORD"
    app_password_env: str = "GREENSWAP_DB_PASSWORD"
    migrations: tuple[Path, ...] = ()
    transform: Path | None = Path("transform.py")  # None with a shared database
    stream: str = "greenswap"
    max_slot_wal_mb: int = 1024
    sync_timeout_s: float = 1800.0
    # swap: each colour has its own database, green's synced from blue's (the
    # default). shared: both colours use the one database at `host`: no schema
    # change, no sync, and a canary is possible.
    mode: str = "swap"
    host: str | None = None

    @property
    def shared(self) -> bool:
        return self.mode == "shared"

    @property
    def secret_variables(self) -> tuple[str, str]:
        """The environment variables that hold this database's passwords."""
        return (self.admin_password_env, self.app_password_env)


@dataclass(frozen=True)
class Notify:
    webhook_url_env: str  # the URL carries a token: it is a secret, read from here
    attempts: int = 3
    timeout_s: float = 5.0


NOTIFY_DEFAULTS = {f.name: f.default for f in fields(Notify) if f.default is not MISSING}


@dataclass(frozen=True)
class StaticFleet:
    inventory: Path  # the operator's YAML inventory: blue_app, blue_db, green_app, ...
    ssh_key: Path
    known_hosts: Path  # every host's key pinned here; greenswap never learns keys


@dataclass(frozen=True)
class AwsSettings:
    terraform_outputs: Path  # a saved `terraform output -json`, or the module's directory
    endpoint_url: str | None  # a private endpoint; None for AWS's own
    ssh_key: Path | None = None  # provider.ssh_key, for kind aws
    image_id: str | None = None  # green's image; None: the launch template's
    bake_from: str | None = None  # or: bake green's image from this one, patched


@dataclass(frozen=True)
class Config:
    environment: str
    path: Path
    provider: str
    lab: str
    lab_paths: dict[str, Path]  # state_root / inventory_dir of the lab, when not the default
    green_hosts: dict[str, int]
    app_version: str
    app_port: int
    app_deploy: Path  # the operator's deploy playbook (docs/app-contract.md)
    playbooks: dict[str, str]  # greenswap's own: patch, db, lb
    database: Database
    lb_kind: str
    lb_host: str | None  # haproxy: the LB host, as the provider names it
    checks: tuple[Check, ...]
    cutover: Cutover
    bake: Bake
    keep_blue_s: float
    hooks: dict[str, tuple[Path, ...]]
    state_dir: Path
    lease_backend: str = "sqlite"
    static: StaticFleet | None = None
    aws: AwsSettings | None = None
    window: Window | None = None  # None: rollouts may start at any time
    notify: Notify | None = None
    app_release: Path | None = None  # the operator's stop playbook, for static fleets
    health_path: str = "/health"  # the LB's own health check asks it of every app host

    def playbook(self, key: str) -> str:
        """The playbook a step runs: the app's own deploy playbook (a path), or one
        of greenswap's by name."""
        return str(self.app_deploy) if key == "app" else self.playbooks[key]

    def run_dir(self, rollout_id: int) -> Path:
        """Where one rollout's logs, dead letters and report live."""
        return self.state_dir / self.environment / f"rollout-{rollout_id}"

    def checks_for(self, scope: str) -> list[Check]:
        return [c for c in self.checks if scope in c.scopes]

    def require_secrets(self) -> None:
        """Every secret a rollout needs is set; refused, naming the variable, if not."""
        for variable in self.database.secret_variables:
            self.secret(variable)

    def secret(self, variable: str) -> str:
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(f"${variable}", "is not set; it holds a secret the rollout needs",
                              f"export {variable} (greenswap never reads secrets from files)")
        return remember(value)


# Database and role names: plain lowercase identifiers, which need no quoting in SQL,
# a shell or a DSN, and which PostgreSQL keeps as written.
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
URL_PATH = re.compile(r"^/[\x21-\x7e]{0,200}$")  # an HTTP path: no space, no control


def database_names(cfg: Config) -> dict[str, Any]:
    """What greenswap's database playbook is told to make: the config's names."""
    db = cfg.database
    return {"db_name": db.dbname, "db_user": db.app_user, "db_port": db.port}


def deploy_inputs(cfg: Config, db_host: str) -> dict[str, Any]:
    """The app's deploy playbook's inputs, as docs/app-contract.md defines them
    (with `target`, given by the caller, and the password in the environment)."""
    return {"app_version": cfg.app_version, "app_port": cfg.app_port,
            "health_path": cfg.health_path, "db_host": db_host, **database_names(cfg)}


def load(path: Path) -> Config:
    return parse(read_document(path), path)


def parse(raw: Any, path: Path) -> Config:
    doc = Section(raw, "", path.parent)
    environment = doc.text("environment", pattern=NAME)  # first, as in the file
    provider = doc.section("provider")
    database = doc.section("database")
    lb = doc.section("lb")
    cutover = doc.section("cutover", required=False)
    app = doc.section("app")
    retire = doc.section("retire", required=False)
    lease = doc.section("lease", required=False)
    kind = provider.choice("kind", PROVIDERS)
    # Each default is the dataclass's own (written once; docs/config.md is tested
    # against them): an instance built with no settings carries them.
    d = Database()
    db = Database(
        port=database.integer("port", default=d.port, low=1, high=65535),
        dbname=database.text("dbname", default=d.dbname, pattern=IDENTIFIER),
        admin_user=database.text("admin_user", default=d.admin_user, pattern=IDENTIFIER),
        app_user=database.text("app_user", default=d.app_user, pattern=IDENTIFIER),
        admin_password_env=database.text("admin_password_env", default=d.admin_password_env,
                                         pattern=SHELL_NAME),
        app_password_env=database.text("app_password_env", default=d.app_password_env,
                                       pattern=SHELL_NAME),
        migrations=tuple(database.files("migrations")),
        transform=_transform(database),
        stream=database.text("stream", default=d.stream,
                             pattern=re.compile(r"^[a-z_][a-z0-9_]{0,49}$")),
        max_slot_wal_mb=database.integer("max_slot_wal_mb", default=d.max_slot_wal_mb, low=1),
        sync_timeout_s=database.number("sync_timeout_s", default=d.sync_timeout_s, low=1),
        mode=database.choice("mode", DATABASE_MODES, default=d.mode),
        host=database.optional_text("host"),
    )
    c = Cutover()
    lab = provider.text("lab", default="gs", pattern=re.compile(r"^[a-z][a-z0-9]{0,5}$"))
    lab_paths = {k: provider.path(k) for k in ("state_root", "inventory_dir")
                 if provider.raw.get(k)}
    cfg = Config(
        environment=environment,
        path=path,
        provider=kind,
        lab=lab,
        lab_paths=lab_paths,
        green_hosts=_green_hosts(provider, db.shared),
        app_version=app.text("version"),
        app_port=app.integer("port", default=8000, low=1, high=65535),
        app_deploy=app.file("deploy"),
        app_release=app.file("release") if app.raw.get("release") else None,
        health_path=app.text("health_path", default=Config.health_path, pattern=URL_PATH),
        playbooks=_playbooks(doc.section("playbooks", required=False)),
        database=db,
        lb_kind=lb.choice("kind", LB_KINDS),
        lb_host=lb.optional_text("host"),
        checks=_checks(doc),
        cutover=Cutover(
            lag_threshold_bytes=cutover.integer("lag_threshold_bytes",
                                                default=c.lag_threshold_bytes, low=0),
            max_pause_ms=cutover.integer("max_pause_ms", default=c.max_pause_ms, low=50,
                                         high=60_000),
            deadline_ms=cutover.integer("deadline_ms", default=c.deadline_ms, low=100,
                                        high=3_600_000),
            inflight_timeout_ms=cutover.integer("inflight_timeout_ms",
                                                default=c.inflight_timeout_ms, low=0),
            canary_steps=_canary_steps(cutover),
            canary_interval_s=cutover.number("canary_interval_s", default=c.canary_interval_s,
                                             low=0, high=3600),
        ),
        bake=_bake(doc.section("bake", required=False)),
        keep_blue_s=retire.number("keep_blue_s", default=3600, low=0),
        hooks=_hooks(doc.section("hooks", required=False)),
        state_dir=doc.path("state_dir", default=_state_dir(kind, lab, lab_paths)),
        lease_backend=lease.choice("backend", LEASE_BACKENDS, default="sqlite"),
        static=_static(provider) if kind == "static" else None,
        aws=_aws(doc.section("aws", required=False), provider if kind == "aws" else None),
    )
    doc.no_unknown({"environment", "provider", "database", "lb", "cutover", "app",
                    "playbooks", "checks", "bake", "retire", "hooks", "state_dir", "lease",
                    "aws", "window", "notify"})
    lease.no_unknown({"backend"})
    cfg = replace(cfg, window=window_settings(doc.section("window", required=False),
                                          worst_case(cfg)),
                  notify=_notify(doc.section("notify", required=False)))
    if cfg.lease_backend == "dynamodb" and cfg.aws is None:
        raise ConfigError("lease.backend", "dynamodb needs the aws section (aws.terraform_outputs "
                          "names the lease table)")
    provider.no_unknown({"kind", "green_hosts"} | PROVIDER_FIELDS[kind])
    check_combination(cfg)
    database.no_unknown({f.name for f in fields(Database)})
    lb.no_unknown({"kind", "host"})
    cutover.no_unknown({f.name for f in fields(Cutover)})
    app.no_unknown({"version", "port", "deploy", "release", "health_path"})
    retire.no_unknown({"keep_blue_s"})
    if cfg.cutover.max_pause_ms >= cfg.cutover.deadline_ms:
        raise ConfigError("cutover.max_pause_ms", "must be shorter than cutover.deadline_ms",
                          "the pause is one part of the whole cutover")
    return cfg


def _state_dir(kind: str, lab: str, lab_paths: dict[str, Path]) -> Path:
    # A rollout on a lab keeps its journal with the lab: `lab down` removes both, and
    # a new lab (each `make demo`) does not inherit rollouts whose hosts are gone.
    if kind == "lab":
        return lab_paths.get("state_root", LAB_STATE_ROOT) / lab / "rollouts"
    return STATE_DIR


def _green_hosts(provider: Section, shared_db: bool) -> dict[str, int]:
    hosts = provider.section("green_hosts", required=False)
    counts = {"app": hosts.integer("app", default=2, low=1, high=64)}
    if shared_db:  # the colours share database.host: green has none of its own
        hosts.no_unknown({"app"})
        return counts
    counts["db"] = hosts.integer("db", default=1, low=1, high=64)
    if counts["db"] != 1:
        raise ConfigError("provider.green_hosts.db", "must be 1: green has one database host")
    hosts.no_unknown(set(counts))
    return counts


def _static(provider: Section) -> StaticFleet:
    fleet = StaticFleet(*(provider.file(k) for k in ("inventory", "ssh_key", "known_hosts")))
    _check_private(fleet.ssh_key)
    return fleet


def _transform(database: Section) -> Path | None:
    if database.raw.get("mode") != "shared":
        return database.file("transform")
    if "transform" in database.raw:  # said, but it would never run: refuse
        raise ConfigError("database.transform", "is not used with database.mode shared: "
                          "a shared database is not synced, so nothing is transformed")
    return None


def _check_private(key: Path) -> None:
    mode = key.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError("provider.ssh_key", f"{key} is readable by others (mode {mode:o})",
                          f"chmod 600 {key}")


def _canary_steps(cutover: Section) -> tuple[int, ...]:
    raw = cutover.raw.get("canary_steps") or [100]
    steps = tuple(raw) if isinstance(raw, list) else (raw,)
    if (not all(isinstance(p, int) and not isinstance(p, bool) for p in steps)
            or list(steps) != sorted(set(steps)) or steps[0] <= 0 or steps[-1] != 100):
        raise ConfigError("cutover.canary_steps", f"{list(steps)} must be whole percents "
                          "rising strictly to 100, for example [10, 50, 100]")
    return steps


def worst_case(cfg: Config) -> timedelta:
    """Of a cutover (with its canary's watched steps) and its bake: a window must be
    longer."""
    canary_s = (len(cfg.cutover.canary_steps) - 1) * cfg.cutover.canary_interval_s
    return timedelta(milliseconds=cfg.cutover.deadline_ms,
                     seconds=cfg.bake.duration_s + canary_s)


def _notify(section: Section) -> Notify | None:
    if not section.raw:
        return None
    notify = Notify(
        webhook_url_env=section.text("webhook_url_env", pattern=re.compile(r"^[A-Z_][A-Z0-9_]*$")),
        attempts=section.integer("attempts", default=NOTIFY_DEFAULTS["attempts"], low=1,
                                 high=10),
        timeout_s=section.number("timeout_s", default=NOTIFY_DEFAULTS["timeout_s"], low=0.1,
                                 high=60),
    )
    section.no_unknown({f.name for f in fields(Notify)})
    return notify


def _aws(section: Section, provider: Section | None) -> AwsSettings | None:
    if not section.raw:
        if provider is not None:
            raise ConfigError("aws", "is required with provider.kind aws",
                              "aws.terraform_outputs names what Terraform made")
        return None
    outputs = section.path("terraform_outputs", default=REQUIRED)
    if not outputs.exists():
        raise ConfigError("aws.terraform_outputs", f"{shown(str(outputs))} does not exist",
                          "save 'terraform output -json' there, or name the terraform/ directory")
    endpoint = section.optional_text("endpoint_url",
                                     pattern=re.compile(r"^https?://[A-Za-z0-9.\[\]:-]+/?$"))
    section.no_unknown({"terraform_outputs", "endpoint_url"})
    if provider is None:
        return AwsSettings(outputs, endpoint)
    key = provider.file("ssh_key")
    _check_private(key)
    ami = re.compile(r"^ami-[0-9a-f]{8,17}$")
    image = provider.optional_text("image_id", pattern=ami)
    bake_from = provider.optional_text("bake_from", pattern=ami)
    if image and bake_from:
        raise ConfigError("provider.bake_from", "and provider.image_id exclude each other",
                          "give the image to use, or the one to bake it from")
    return AwsSettings(outputs, endpoint, key, image, bake_from)


def _playbooks(section: Section) -> dict[str, str]:
    if "app" in section.raw:
        raise ConfigError("playbooks.app", "is gone: the app's own deploy playbook is named by"
                          " app.deploy", "move it to app.deploy (see docs/app-contract.md)")
    names = {"patch": "patch.yml", "db": "postgres.yml", "lb": "haproxy.yml"}
    # greenswap's own playbooks live in its playbooks/ directory, and only there.
    books = {k: section.text(k, default=v, pattern=re.compile(r"^[\w.-]+\.ya?ml$"))
             for k, v in names.items()}
    for key, name in books.items():
        if not (PLAYBOOKS / name).is_file():
            have = ", ".join(sorted(p.name for p in PLAYBOOKS.glob("*.yml")))
            raise ConfigError(f"playbooks.{key}", f"{shown(name)} is not one of greenswap's"
                              f" playbooks ({have})")
    section.no_unknown(set(names))
    return books


def _checks(doc: Section) -> tuple[Check, ...]:
    checks = tuple(_check(c) for c in doc.items("checks"))
    names = [c.name for c in checks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"checks[{i}].name", f"{shown(name)} is the name of checks"
                              f"[{names.index(name)}] too", "give each check its own name:"
                              " the journal and the report tell them apart by it")
    return checks


def _check(item: Section) -> Check:
    kind = item.choice("kind", ("http", "sql", "command"))
    scopes = tuple(item.strings("scopes", default=list(SCOPES)))
    for scope in scopes:
        if scope not in SCOPES:
            raise ConfigError(f"{item.where}.scopes", f"unknown scope {shown(scope)}; "
                              f"expected some of {', '.join(SCOPES)}")
    check = Check(
        name=item.text("name"), kind=kind, scopes=scopes,
        path=item.text("path", default=CHECK_DEFAULTS["path"], pattern=URL_PATH),
        expect_status=item.integer("expect_status", default=CHECK_DEFAULTS["expect_status"],
                                   low=100, high=599),
        query=item.text("query", default="") if kind == "sql" else "",
        command=item.text("command", default="") if kind == "command" else "",
        timeout_s=item.number("timeout_s", default=CHECK_DEFAULTS["timeout_s"], low=0.1,
                              high=300),
    )
    if kind == "sql" and not check.query:
        raise ConfigError(f"{item.where}.query", "is required for a sql check")
    if kind == "command" and not check.command:
        raise ConfigError(f"{item.where}.command", "is required for a command check")
    item.no_unknown({"name", "kind", "scopes", "path", "expect_status", "query", "command",
                     "timeout_s"})
    return check


def _bake(section: Section) -> Bake:
    d = Bake()
    bake = Bake(
        duration_s=section.number("duration_s", default=d.duration_s, low=0),
        interval_s=section.number("interval_s", default=d.interval_s, low=0.1, high=3600),
        failures=section.integer("failures", default=d.failures, low=1, high=100),
        max_error_rate=section.number("max_error_rate", default=d.max_error_rate, low=0,
                                      high=1),
    )
    section.no_unknown({"duration_s", "interval_s", "failures", "max_error_rate"})
    return bake


def _hooks(section: Section) -> dict[str, tuple[Path, ...]]:
    hooks = {moment: tuple(section.files(moment, executable=True)) for moment in HOOK_MOMENTS}
    section.no_unknown(set(HOOK_MOMENTS))
    return hooks
