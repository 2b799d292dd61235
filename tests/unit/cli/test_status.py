"""The rollout commands that need no hosts: plan, status, history, unlock, against
a real journal file; and their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.main import main
from orchestrator.runbook.journal import Journal
from tests.sample_app import sample_doc

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


@pytest.fixture
def cfg_path(tmp_path) -> Path:
    doc = sample_doc()
    doc["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "rollout.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_plan_exits_2_with_changes_and_creates_nothing(capsys, cfg_path, tmp_path):
    code, out, _ = run(capsys, "plan", "-c", str(cfg_path), "--json")
    assert code == 2
    phases = json.loads(out)["phases"]
    assert [p["phase"] for p in phases] == [
        "preflight", "provision", "patch", "deploy", "schema", "sync", "verify", "cutover",
        "bake", "retire"]
    assert all(p["does"] and p["steps"] for p in phases)
    assert not (tmp_path / "state").exists()  # a dry run writes nothing


def test_plan_exits_0_when_the_last_rollout_brought_this_version(capsys, cfg_path, tmp_path):
    journal = Journal(tmp_path / "state")
    rid = journal.start("lab-demo", {"app_version": "2.0"})
    journal.set_state(rid, "succeeded", ended=True)
    code, _, err = run(capsys, "plan", "-c", str(cfg_path))
    assert code == 0 and "nothing to do" in err


def test_status_history_and_unlock_read_the_journal(capsys, cfg_path, tmp_path):
    journal = Journal(tmp_path / "state")
    rid = journal.start("lab-demo", {"app_version": "2.0", "blue": "blue", "green": "green"})
    journal.record(rid, "preflight", "start", "preflight started")
    journal.record(rid, "preflight", "done", "preflight done", seconds=0.5)
    journal.record(rid, "provision", "start", "provision started")
    journal.record(rid, "provision", "fail", "provision failed: no room")
    lease = journal.acquire("lab-demo", rid)
    lease._stop.set()  # as if its holder had hung

    code, out, _ = run(capsys, "status", "-c", str(cfg_path), "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == rid and data["state"] == "running"
    assert data["phases"]["preflight"] == {"state": "done", "seconds": 0.5, "message": None}
    assert data["phases"]["provision"]["state"] == "fail"
    assert data["lock"]["rollout"] == rid

    code, out, _ = run(capsys, "history", "-c", str(cfg_path), "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [rid]

    code, _, err = run(capsys, "unlock", "-c", str(cfg_path), "--reason", "hung")
    assert code == 0 and "broken" in err
    assert journal.lease_holder("lab-demo") is None


def test_a_bad_config_is_exit_3_naming_the_field(capsys, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("environment: Bad Name\n")
    code, _, err = run(capsys, "plan", "-c", str(path))
    assert code == 3 and err.startswith("error: environment:")


def test_with_json_a_failure_is_json_on_stdout_too(capsys, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("environment: Bad Name\n")
    code, out, err = run(capsys, "plan", "-c", str(path), "--json")
    assert code == 3 and err.startswith("error: environment:")
    failure = json.loads(out)
    assert failure["error"] == "ConfigError" and failure["exit_code"] == 3
    assert failure["field"] == "environment"


def test_plan_warns_of_a_secret_that_is_not_set(capsys, cfg_path, monkeypatch):
    monkeypatch.delenv("GREENSWAP_DB_PASSWORD", raising=False)
    monkeypatch.setenv("GREENSWAP_DB_ADMIN_PASSWORD", "x")
    code, _, err = run(capsys, "plan", "-c", str(cfg_path))
    assert code == 2
    assert "warning: $GREENSWAP_DB_PASSWORD is not set" in err
    assert "GREENSWAP_DB_ADMIN_PASSWORD is not set" not in err


def test_status_shows_how_far_the_snapshot_has_got_during_sync(capsys, cfg_path, tmp_path):
    journal = Journal(tmp_path / "state")
    rid = journal.start("lab-demo", {"app_version": "2.0", "blue": "blue", "green": "green"})
    journal.record(rid, "sync", "start", "sync started")
    copying = {"what": "snapshot", "table": "accounts", "rows": 250_000, "estimate": 1_000_000,
               "rows_per_s": 50_000.0, "eta_s": 15.0}
    journal.update_facts(rid, sync_snapshot=copying)

    code, out, _ = run(capsys, "status", "-c", str(cfg_path))
    assert code == 0
    assert "sync: snapshot accounts: 250,000 of ~1,000,000 rows, 50,000 rows/s, ETA 15s" in out
    code, out, _ = run(capsys, "status", "-c", str(cfg_path), "--json")
    assert json.loads(out)["facts"]["sync_snapshot"] == copying
