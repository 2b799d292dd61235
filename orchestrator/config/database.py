"""The config's `database` section: the app's database on each colour (or the one
both share), its roles, and how green's is built and kept in sync."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.config.section import SHELL_NAME, Section, setting_names
from orchestrator.errors import ConfigError

MODES = ("swap", "shared")
# Database and role names: plain lowercase identifiers, which need no quoting in SQL,
# a shell or a DSN, and which PostgreSQL keeps as written.
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
STREAM = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")


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

    def names(self) -> dict[str, Any]:
        """What greenswap's database playbook is told to make: the config's names."""
        return {"db_name": self.dbname, "db_user": self.app_user, "db_port": self.port}

    @classmethod
    def read(cls, section: Section) -> Database:
        # Each default is the dataclass's own (written once; docs/config.md is tested
        # against them).
        d = cls()
        database = cls(
            port=section.integer("port", default=d.port, low=1, high=65535),
            dbname=section.text("dbname", default=d.dbname, pattern=IDENTIFIER),
            admin_user=section.text("admin_user", default=d.admin_user, pattern=IDENTIFIER),
            app_user=section.text("app_user", default=d.app_user, pattern=IDENTIFIER),
            admin_password_env=section.text("admin_password_env", default=d.admin_password_env,
                                            pattern=SHELL_NAME),
            app_password_env=section.text("app_password_env", default=d.app_password_env,
                                          pattern=SHELL_NAME),
            migrations=tuple(section.files("migrations")),
            transform=_transform(section),
            stream=section.text("stream", default=d.stream, pattern=STREAM),
            max_slot_wal_mb=section.integer("max_slot_wal_mb", default=d.max_slot_wal_mb, low=1),
            sync_timeout_s=section.number("sync_timeout_s", default=d.sync_timeout_s, low=1),
            mode=section.choice("mode", MODES, default=d.mode),
            host=section.optional_text("host"),
        )
        section.no_unknown(setting_names(cls))
        return database


def _transform(section: Section) -> Path | None:
    if section.raw.get("mode") != "shared":
        return section.file("transform")
    if "transform" in section.raw:  # said, but it would never run: refuse
        raise ConfigError("database.transform", "is not used with database.mode shared: "
                          "a shared database is not synced, so nothing is transformed")
    return None
