"""Broken configurations, through the real command a sysadmin (or a timer) runs:
`greenswap rollout --yes`. Each must be refused with exit code 3 and a single line
that names the field, before anything is written: no state directory, no journal,
no lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.main import main
from tests.sample_app import sample_doc

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-app"


def _static(doc: dict, tmp: Path) -> None:
    key = tmp / "id_ed25519"
    key.write_text("not really a key\n")
    key.chmod(0o644)  # the mistake: others can read it
    for name in ("hosts.yml", "known_hosts"):
        (tmp / name).write_text("x\n")
    doc["provider"] = {"kind": "static", "inventory": str(tmp / "hosts.yml"),
                       "ssh_key": str(key), "known_hosts": str(tmp / "known_hosts")}


def _hook(doc: dict, tmp: Path) -> None:
    script = tmp / "notify-team.sh"
    script.write_text("#!/bin/sh\nexit 0\n")  # the mistake: not executable
    doc["hooks"] = {"before_cutover": [str(script)]}


BROKEN = [  # (what is wrong, the field the error must name, the change)
    ("a name with a space", "environment", lambda d, t: d.update(environment="Prod Env")),
    ("a typo in a section name", "bakee", lambda d, t: d.update(bakee={"duration_s": 5})),
    ("a typo in a setting", "cutover.deadline", lambda d, t: d["cutover"].update(deadline=9)),
    ("an unknown provider", "provider.kind", lambda d, t: d["provider"].update(kind="vmware")),
    ("a count as words", "provider.green_hosts.app",
     lambda d, t: d["provider"]["green_hosts"].update(app="two")),
    ("no app hosts", "provider.green_hosts.app",
     lambda d, t: d["provider"]["green_hosts"].update(app=0)),
    ("no app version", "app.version", lambda d, t: d["app"].pop("version")),
    ("a port out of range", "app.port", lambda d, t: d["app"].update(port=70000)),
    ("a transform that is not there", "database.transform",
     lambda d, t: d["database"].update(transform=str(t / "missing.py"))),
    ("a migration that is not there", "database.migrations[0]",
     lambda d, t: d["database"].update(migrations=[str(t / "v3.sql")])),
    ("a stream name Postgres would refuse", "database.stream",
     lambda d, t: d["database"].update(stream="Green-Stream")),
    ("a shared database without its address", "database.host",
     lambda d, t: (d["database"].update(mode="shared", transform=None),
                   d["provider"]["green_hosts"].pop("db"))),
    ("an unknown LB", "lb.kind", lambda d, t: d["lb"].update(kind="nginx")),
    ("an HAProxy without its host", "lb.host", lambda d, t: d["lb"].pop("host")),
    ("an unknown kind of check", "checks[0].kind",
     lambda d, t: d["checks"][0].update(kind="ping")),
    ("a deadline as words", "cutover.deadline_ms",
     lambda d, t: d["cutover"].update(deadline_ms="soon")),
    ("a pause longer than the deadline", "cutover.max_pause_ms",
     lambda d, t: d["cutover"].update(max_pause_ms=40000)),
    ("a bake round of zero seconds", "bake.interval_s",
     lambda d, t: d["bake"].update(interval_s=0)),
    ("a section given as a list", "retire", lambda d, t: d.update(retire=[3600])),
    ("a cron that is not one", "window.cron",
     lambda d, t: d.update(window={"cron": "every sunday night", "duration_m": 120})),
    ("an unknown time zone", "window.timezone",
     lambda d, t: d.update(window={"cron": "0 2 * * 0", "duration_m": 120,
                                   "timezone": "Mars/Olympus_Mons"})),
    ("a window shorter than the worst-case cutover", "window.duration_m",
     lambda d, t: d.update(window={"cron": "0 2 * * 0", "duration_m": 0.5})),
    ("a freeze date that does not exist", "window.freeze[0]",
     lambda d, t: d.update(window={"cron": "0 2 * * 0", "duration_m": 120,
                                   "freeze": ["2026-13-01"]})),
    ("a webhook variable that is not a variable name", "notify.webhook_url_env",
     lambda d, t: d.update(notify={"webhook_url_env": "https://hooks.example/T0"})),
    ("an unknown lease backend", "lease.backend",
     lambda d, t: d.update(lease={"backend": "etcd"})),
    ("a hook that cannot run", "hooks.before_cutover[0]", _hook),
    ("a key others can read", "provider.ssh_key", _static),
]


@pytest.mark.parametrize("what, field, change", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_config_is_one_line_naming_the_field_and_changes_nothing(
        what, field, change, tmp_path, capsys, monkeypatch):
    for name in ("GREENSWAP_DB_PASSWORD", "GREENSWAP_DB_ADMIN_PASSWORD"):
        monkeypatch.setenv(name, "s3cret")  # so that only the config is wrong
    doc = sample_doc()
    state = tmp_path / "state"
    doc["state_dir"] = str(state)
    change(doc, tmp_path)
    if doc["database"].get("transform") is None:
        doc["database"].pop("transform")
    path = tmp_path / "rollout.yml"
    path.write_text(yaml.safe_dump(doc))
    before = sorted(os.listdir(tmp_path))

    with pytest.raises(SystemExit) as exited:
        main(["rollout", "--yes", "-c", str(path)])
    err = capsys.readouterr().err

    assert exited.value.code == 3, (what, err)
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {field}: "), (what, err)
    assert not state.exists() and sorted(os.listdir(tmp_path)) == before


def test_a_missing_secret_is_one_line_and_changes_nothing(tmp_path, capsys, monkeypatch):
    doc = sample_doc()
    state = tmp_path / "state"
    doc["state_dir"] = str(state)
    path = tmp_path / "rollout.yml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("GREENSWAP_DB_ADMIN_PASSWORD", "s3cret")
    monkeypatch.delenv("GREENSWAP_DB_PASSWORD", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["rollout", "--yes", "-c", str(path)])
    err = capsys.readouterr().err
    assert exited.value.code == 3 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: $GREENSWAP_DB_PASSWORD: is not set")
    assert "s3cret" not in err
    assert not state.exists()  # no journal, so no half-started rollout to resume or abort
