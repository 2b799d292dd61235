"""Reading one mapping of a YAML settings file: typed getters whose every error is a
ConfigError naming the full field (`cutover.deadline_ms: ...`)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

REQUIRED = object()  # a getter's default: the setting must be there
# Names of environment variables (secrets are read from them): what a shell accepts.
SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
URL_PATH = re.compile(r"^/[\x21-\x7e]{0,200}$")  # an HTTP path: no space, no control


def setting_names(settings: type) -> set[str]:
    """The keys a section may hold: its settings dataclass's fields, so that a
    setting is named once, where it is declared."""
    return {f.name for f in fields(settings)}


def shown(value: Any) -> str:
    """A value as an error line may echo it: its repr, cut."""
    return cut(repr(value))


def cut(text: str, most: int = 80) -> str:
    """At most `most` characters of `text`, saying how long it was when it is cut."""
    return text if len(text) <= most else f"{text[:most]}... ({len(text):,} characters)"


class Section:
    """A mapping in the file, with typed getters whose errors name the full field."""

    def __init__(self, raw: Any, where: str, base: Path) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(where or "(top level)", "must be a mapping of settings")
        self.raw, self.where, self.base = raw, where, base

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, default: Any, kind: str) -> Any:
        if key in self.raw and self.raw[key] is not None:
            return self.raw[key]
        if default is REQUIRED:
            raise ConfigError(self._field(key), f"is required ({kind})")
        return default

    def section(self, key: str, required: bool = True) -> Section:
        return Section(self._get(key, REQUIRED if required else {}, "a mapping"),
                        self._field(key), self.base)

    def items(self, key: str) -> list[Section]:
        value = self._get(key, [], "a list")
        if not isinstance(value, list):
            raise ConfigError(self._field(key), "must be a list")
        return [Section(v, f"{self._field(key)}[{i}]", self.base) for i, v in enumerate(value)]

    def text(self, key: str, default: Any = REQUIRED, pattern: re.Pattern | None = None
             ) -> str:
        """Required (non-empty) unless a default is given."""
        value = self.optional_text(key, default, pattern)
        if value is None:  # only a default of None gets here; optional_text is for that
            raise ConfigError(self._field(key), "is required (text)")
        return value

    def optional_text(self, key: str, default: Any = None, pattern: re.Pattern | None = None
                      ) -> str | None:
        """The text, or the default (None unless given) when it is not set."""
        value = self._get(key, default, "text")
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # version: 2.0 is meant as text
        if not isinstance(value, str) or (default is REQUIRED and not value.strip()):
            raise ConfigError(self._field(key), "must be non-empty text")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(self._field(key), f"{shown(value)} does not match {pattern.pattern}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = REQUIRED) -> str:
        value = self.text(key, default=default)
        if value not in options:
            raise ConfigError(self._field(key),
                              f"{shown(value)} is not one of {', '.join(options)}")
        return value

    def integer(self, key: str, default: Any = REQUIRED, low: int | None = None,
                high: int | None = None) -> int:
        value = self._get(key, default, "a whole number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self._field(key), f"must be a whole number, not {shown(value)}")
        return self._bounded(key, value, low, high)

    def number(self, key: str, default: Any = REQUIRED, low: float | None = None,
               high: float | None = None) -> float:
        value = self._get(key, default, "a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(self._field(key), f"must be a number, not {shown(value)}")
        if not math.isfinite(value):
            raise ConfigError(self._field(key), f"must be a finite number, not {value}")
        return float(self._bounded(key, value, low, high))

    def _bounded(self, key: str, value, low, high):
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
            raise ConfigError(self._field(key), f"{value} is out of range ({span})")
        return value

    def strings(self, key: str, default: list[str]) -> list[str]:
        value = self._get(key, default, "a list of text")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self._field(key), "must be a list of text")
        return value

    def path(self, key: str, default: Any = REQUIRED) -> Path:
        value = self._get(key, default, "a path")
        if value == default:
            return default
        if not isinstance(value, str) or not value or not _fits(value):
            raise ConfigError(self._field(key), f"{shown(value)} is not a usable path")
        return (self.base / Path(value)).resolve()

    def file(self, key: str) -> Path:
        return self._file(self._field(key), self.text(key))

    def _file(self, where: str, name: str) -> Path:
        """A file named relative to the config's directory (and staying under it), or
        by an absolute path."""
        if not _fits(name):
            raise ConfigError(where, f"{shown(name)} is not a usable path")
        path = (self.base / name).resolve()
        if not Path(name).is_absolute() and not path.is_relative_to(self.base.resolve()):
            raise ConfigError(where, f"{shown(name)} leaves the config's directory",
                              "name a file under it, or give an absolute path")
        try:
            found = path.is_file()
        except OSError:  # a name too long for the file system, say
            found = False
        if not found:
            raise ConfigError(where, f"{shown(str(path))} is not a file")
        return path

    def private_file(self, key: str) -> Path:
        """A file only its owner may read: a private key."""
        path = self.file(key)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(self._field(key), f"{path} is readable by others (mode {mode:o})",
                              f"chmod 600 {path}")
        return path

    def files(self, key: str, executable: bool = False) -> list[Path]:
        found = []
        for i, name in enumerate(self.strings(key, [])):
            where = f"{self._field(key)}[{i}]"
            path = self._file(where, name)
            if executable and not os.access(path, os.X_OK):
                raise ConfigError(where, f"{path} is not executable", f"chmod +x {path}")
            found.append(path)
        return found

    def no_unknown(self, known: set[str]) -> None:
        unknown = sorted(str(k) for k in set(self.raw) - known)
        if unknown:
            raise ConfigError(self._field(cut(unknown[0])),
                              "is not a setting greenswap knows",
                              f"known here: {', '.join(sorted(known))}")


def _fits(name: str) -> bool:
    """A path the file system can take: no NUL, names of at most 255 bytes, at most
    4,096 in all (Linux's NAME_MAX and PATH_MAX)."""
    return ("\0" not in name and len(name.encode()) <= 4096
            and all(len(part.encode()) <= 255 for part in name.split("/")))
