"""Helpers for whole rollouts in the test lab: a config for it, and a bounded client
that writes and reads through the LB while something happens."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator import config
from orchestrator.lab.loadgen import Load
from tests.sample_app import SAMPLE_APP, sample_doc


def write_config(tmp_path: Path, lab, example: Path = SAMPLE_APP, **overrides) -> config.Config:
    """The `example` app's rollout config, pointed at this lab and `tmp_path`."""
    doc = sample_doc(example)
    doc["environment"] = "it"
    doc["state_dir"] = str(tmp_path / "state")
    doc["provider"].update(lab=lab.settings.name, state_root=str(lab.settings.state_root),
                           inventory_dir=str(lab.settings.inventory_path.parent))
    for key, value in overrides.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "rollout.yml"
    path.write_text(yaml.safe_dump(doc))
    return config.load(path)


def lb_url(env) -> str:
    return "http://" + next(r.address for r in env.lab.records() if r.name == "lb-1")


def under_load(env, action, rate: float = 60.0, shape: str = "accounts"):
    """Run `action` while the client writes and reads through the LB. Returns what it
    returned (or raised), the client's result, and the client (for lost())."""
    load = Load(lb_url(env), rate=rate, workers=4, max_requests=50_000, max_seconds=900,
                guard=lambda _u: env.check_route(), shape=shape).start()
    try:
        outcome = action()
    except Exception as exc:  # noqa: BLE001 - the caller asserts on it
        outcome = exc
    finally:
        result = load.stop()
    return outcome, result, load


def assert_clean(result, load) -> None:
    assert result.requests > 100, "the load really ran"
    assert (result.failures, result.stale_reads) == (0, 0), result.errors
    assert load.lost() == []


def db_record(env, color: str = "blue"):
    return next(r for r in env.lab.records() if r.color == color and r.role == "db")


def admin_dsn(env, color: str = "blue", cfg: config.Config | None = None) -> str:
    """greenswap's own role on a colour's database, as the rollout connects (under
    `cfg`'s names, or the sample app's)."""
    dbname, user = (cfg.database.dbname, cfg.database.admin_user) if cfg else ("app", "greenswap")
    return (f"host={db_record(env, color).address} dbname={dbname} user={user}"
            f" password={env.admin_password()} connect_timeout=5")


def live_version(env) -> str:
    return env.get_json(lb_url(env) + "/health")["version"]
