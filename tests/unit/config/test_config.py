"""Rollout config: the sample is valid, and every mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


def load_with(tmp_path: Path, change) -> config.Config:
    doc = yaml.safe_load(SAMPLE.read_text())
    change(doc)
    path = SAMPLE.parent / f".test-{tmp_path.name}.yml"  # relative paths resolve here
    path.write_text(yaml.safe_dump(doc))
    try:
        return config.load(path)
    finally:
        path.unlink()


def test_the_sample_config_loads_with_defaults():
    cfg = config.load(SAMPLE)
    assert cfg.environment == "lab-demo" and cfg.app.version == "2.0"
    assert cfg.database.transform.name == "transform.py" and cfg.database.transform.is_file()
    assert [c.name for c in cfg.checks_for("bake")] == ["app health", "accounts readable"]
    assert cfg.cutover.max_pause_ms == 1000 and cfg.playbooks["patch"] == "patch.yml"
    assert cfg.playbook("app") == str(SAMPLE.parent / "deploy.yml")
    assert cfg.app.release == SAMPLE.parent / "release.yml" and cfg.app.health_path == "/health"


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("environment"), "environment"),
    (lambda d: d["cutover"].update(max_pause_ms="fast"), "cutover.max_pause_ms"),
    (lambda d: d["cutover"].update(max_pause_ms=5000, deadline_ms=4000), "cutover.max_pause_ms"),
    (lambda d: d["database"].update(transform="nope.py"), "database.transform"),
    (lambda d: d["database"].update(migrations=["missing.sql"]), "database.migrations[0]"),
    (lambda d: d["checks"][1].update(kind="sql", query=""), "checks[1].query"),
    (lambda d: d["checks"][0].update(scopes=["sometimes"]), "checks[0].scopes"),
    (lambda d: d["lb"].update(kind="nginx"), "lb.kind"),
    (lambda d: d["bake"].update(duraton_s=3), "bake.duraton_s"),
    (lambda d: d["provider"]["green_hosts"].update(db=2), "provider.green_hosts.db"),
    (lambda d: d.update(retire=[1]), "retire"),
    (lambda d: d.update(lease={"backend": "etcd"}), "lease.backend"),
    (lambda d: d.update(lease={"backend": "dynamodb"}), "lease.backend"),
    (lambda d: d.update(aws={"terraform_outputs": "missing.json"}), "aws.terraform_outputs"),
    (lambda d: d.update(aws={"terraform_outputs": "transform.py",
                             "endpoint_url": "ftp://x"}), "aws.endpoint_url"),
    (lambda d: d.update(aws={"terraform_outputs": "transform.py", "regoin": "x"}), "aws.regoin"),
    (lambda d: d["app"].pop("deploy"), "app.deploy"),
    (lambda d: d["app"].update(deploy="missing.yml"), "app.deploy"),
    (lambda d: d["app"].update(health_path="health"), "app.health_path"),
    (lambda d: d.update(playbooks={"app": "app.yml"}), "playbooks.app"),
    (lambda d: d["database"].update(dbname="Orders DB"), "database.dbname"),
    (lambda d: d["database"].update(app_user="shop'; --"), "database.app_user"),
])
def test_a_mistake_names_its_field(tmp_path, change, field):
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, change)
    assert err.value.field == field
    assert "\n" not in err.value.one_line()


def test_the_lease_backend_defaults_to_sqlite_and_dynamodb_reads_terraform():
    assert config.load(SAMPLE).lease.backend == "sqlite"
    cfg = load_with(Path("dyn"), lambda d: d.update(
        lease={"backend": "dynamodb"},
        aws={"terraform_outputs": "transform.py", "endpoint_url": "http://127.0.0.1:5000"}))
    assert cfg.lease.backend == "dynamodb" and cfg.aws.endpoint_url == "http://127.0.0.1:5000"
    assert cfg.aws.terraform_outputs == SAMPLE.parent / "transform.py"


def test_secrets_come_from_the_environment_only(monkeypatch):
    cfg = config.load(SAMPLE)
    monkeypatch.delenv("GREENSWAP_DB_ADMIN_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"\$GREENSWAP_DB_ADMIN_PASSWORD: is not set"):
        cfg.secret("GREENSWAP_DB_ADMIN_PASSWORD")
    monkeypatch.setenv("GREENSWAP_DB_ADMIN_PASSWORD", "s3cret")
    assert cfg.secret("GREENSWAP_DB_ADMIN_PASSWORD") == "s3cret"


def test_bad_yaml_is_one_line_with_the_line_number(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("environment: x\n  bad: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        config.load(path)


def static_provider(tmp_path: Path, key_mode: int = 0o600) -> dict:
    for name in ("hosts.yml", "known_hosts", "id_ed25519"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "id_ed25519").chmod(key_mode)
    return {"kind": "static", "inventory": str(tmp_path / "hosts.yml"),
            "ssh_key": str(tmp_path / "id_ed25519"),
            "known_hosts": str(tmp_path / "known_hosts"), "green_hosts": {"app": 2, "db": 1}}


def test_a_static_fleet_names_its_inventory_key_and_pins(tmp_path):
    cfg = load_with(tmp_path, lambda d: d.update(provider=static_provider(tmp_path)))
    assert cfg.provider.kind == "static"
    assert cfg.provider.settings.inventory == tmp_path / "hosts.yml"


def test_a_lab_rollout_keeps_its_journal_with_its_lab_and_others_in_var_lib(tmp_path):
    # `make demo` journals where `greenswap history -c <the sample>` reads, and a new
    # lab (each demo) does not inherit rollouts whose hosts are gone.
    assert config.load(SAMPLE).state_dir == Path("/var/lib/greenswap/labs/gs/rollouts")
    moved = load_with(tmp_path, lambda d: d["provider"].update(lab="gs2", state_root="/srv/l"))
    assert moved.state_dir == Path("/srv/l/gs2/rollouts")
    said = load_with(tmp_path, lambda d: d.update(state_dir="/srv/journal"))
    assert said.state_dir == Path("/srv/journal")
    static = load_with(tmp_path, lambda d: d.update(provider=static_provider(tmp_path)))
    assert static.state_dir == Path("/var/lib/greenswap")


@pytest.mark.parametrize("change, field", [
    (lambda p: p.pop("known_hosts"), "provider.known_hosts"),
    (lambda p: p.update(inventory="/nonexistent/hosts.yml"), "provider.inventory"),
    (lambda p: p.update(lab="gs"), "provider.lab"),  # a lab setting on a static fleet
])
def test_a_static_fleet_mistake_names_its_field(tmp_path, change, field):
    fleet = static_provider(tmp_path)
    change(fleet)
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, lambda d: d.update(provider=fleet))
    assert err.value.field == field


def test_a_key_others_can_read_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, lambda d: d.update(provider=static_provider(tmp_path, 0o644)))
    assert err.value.field == "provider.ssh_key" and "chmod 600" in err.value.hint


def shared_alb(doc: dict, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    doc["database"] = {"mode": "shared", "host": "10.40.0.5"}
    doc["lb"] = {"kind": "aws-alb"}
    key = tmp_path / "id_ed25519"
    key.write_text("x\n")
    key.chmod(0o600)
    doc["provider"] = {"kind": "aws", "ssh_key": str(key), "green_hosts": {"app": 2}}
    doc["aws"] = {"terraform_outputs": str(outputs)}
    doc["cutover"]["canary_steps"] = [10, 50, 100]


def test_a_shared_database_behind_an_alb_may_canary(tmp_path):
    cfg = load_with(tmp_path, lambda d: shared_alb(d, tmp_path))
    assert cfg.database.shared and cfg.database.transform is None
    assert cfg.cutover.canary_steps == (10, 50, 100) and cfg.provider.green_hosts == {"app": 2}


@pytest.mark.parametrize("change, field", [
    (lambda d: d["database"].update(mode="swap", host=None), "database.transform"),
    (lambda d: d["database"].update(transform="transform.py"), "database.transform"),
    (lambda d: d["database"].pop("host"), "database.host"),
    (lambda d: d["provider"]["green_hosts"].update(db=1), "provider.green_hosts.db"),
    (lambda d: d["cutover"].update(canary_steps=[50, 10, 100]), "cutover.canary_steps"),
    (lambda d: d["cutover"].update(canary_steps=[10, 50]), "cutover.canary_steps"),
    (lambda d: d.pop("aws"), "aws"),
    (lambda d: d["lb"].update(kind="haproxy"), "lb.host"),
    (lambda d: d["lb"].update(kind="haproxy", host="lb-1"), "cutover.canary_steps"),
    (lambda d: d["cutover"].update(canary_steps=[100]) or d["lb"].update(
        kind="haproxy", host="lb-1"), "lb.kind"),
    (lambda d: d["cutover"].update(canary_steps=50), "cutover.canary_steps"),
    (lambda d: d["cutover"].update(canary_interval_s=1), "cutover.canary_interval_s"),
    (lambda d: d["database"].update(migrations=["schema_v2.sql"]), "database.migrations"),
    (lambda d: d.update(provider={"kind": "lab", "green_hosts": {"app": 2}}), "lb.kind"),
])
def test_settings_that_do_not_work_together_are_refused(tmp_path, change, field):
    def broken(doc):
        shared_alb(doc, tmp_path)
        change(doc)
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, broken)
    assert err.value.field == field, err.value.one_line()
