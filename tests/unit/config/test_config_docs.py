"""docs/config.md against the code: every default the reference gives is the one
config.load applies (as Kamal checks each config section against its docs)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.config.section import setting_names

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "sample-app"
ROW = re.compile(r"^\| `([a-z_.]+)` \| [^|]* \| ([^|]*) \|")
def documented_defaults() -> list[tuple[str, str, object]]:
    """(section, setting, default) for every row whose default is a plain value."""
    found, section = [], ""
    for line in (ROOT / "docs" / "config.md").read_text().splitlines():
        heading = re.match(r"^## `([a-z_]+)`", line)
        if heading or line.startswith("## "):
            section = heading[1] if heading else ""
            continue
        row = ROW.match(line)
        if row and section:
            value = _literal(row[2].strip())
            if value is not _literal:
                found.append((section, row[1], value))
    return found


def _literal(text: str) -> object:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    if re.fullmatch(r"`\[[\d, ]*\]`", text):
        return [int(v) for v in re.findall(r"\d+", text)]
    if re.fullmatch(r"`[^`]+`", text):
        return text[1:-1]
    return _literal  # prose ("required", "the lab's defaults"): nothing to compare


def minimal() -> config.Config:
    """The sample's required settings only, so that everything else is a default."""
    doc = {
        "environment": "docs",
        "provider": {"kind": "lab"},
        "app": {"version": "2.0", "deploy": "deploy.yml"},
        "database": {"transform": "transform.py"},
        "lb": {"kind": "haproxy", "host": "lb-1"},
        "checks": [{"name": "health", "kind": "http"}],
        "notify": {"webhook_url_env": "GS_DOCS_HOOK"},
        "window": {"cron": "0 3 * * *", "duration_m": 120},
    }
    return config.parse(doc, SAMPLE / "rollout.yml")


def actual(cfg: config.Config, section: str, setting: str) -> object:
    if section == "provider" and setting.startswith("green_hosts."):
        return cfg.provider.green_hosts[setting.split(".")[1]]
    holder = cfg.checks[0] if section == "checks" else getattr(cfg, section)
    if section == "provider" and setting not in setting_names(type(holder)):
        holder = holder.settings  # the provider kind's own (here, the lab's)
    assert dataclasses.is_dataclass(holder), f"{section} is not a settings section"
    value = getattr(holder, setting)
    if isinstance(value, tuple):
        return list(value)
    return str(value) if hasattr(value, "tzname") or hasattr(value, "key") else value


@pytest.mark.parametrize(("section", "setting", "documented"), documented_defaults(),
                         ids=lambda v: str(v))
def test_each_documented_default_is_the_one_applied(section, setting, documented):
    assert actual(minimal(), section, setting) == documented


def test_the_reference_still_documents_defaults():
    assert len(documented_defaults()) > 25  # the table layout the parser reads
