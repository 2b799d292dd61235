"""Existing servers, through the static provider only: lab hosts stand in for a fleet
an operator already has, listed in an inventory file the way operators write one.

First a v1 -> v2 rollout under load onto the green pool; blue's pool is released.
Then a patch-only rollout (same app, same schema, identity transform), started the
way the systemd timer starts it, non-interactively: it claims the old blue pool back
as green, re-provisions it, sends the webhook sequence, and its report shows the
system update on every green host.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.lab.environment import LabEnvironment
from orchestrator.lab.lab import Lab
from orchestrator.lab.loadgen import Load
from orchestrator.ops import schedule
from orchestrator.runbook import rollout
from orchestrator.runbook.context import PHASES
from orchestrator.runbook.journal import Journal
from tests.browser import rendered_dom
from tests.conftest import leftovers, make_settings
from tests.receiver import Receiver
from tests.sample_app import sample_doc

pytestmark = pytest.mark.lab

SAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"
SUBNET = "198.18.101.0/24"  # a lab of its own: the session's lab is left as it is
UPDATE = "greenswap-lab-base 1.0 -> 1.1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Both pools up, blue serving v1 (set up before greenswap, as existing servers)."""
    root = tmp_path_factory.mktemp("static")
    settings = make_settings(root, "gss", SUBNET)
    lab = Lab(settings)
    try:
        lab.up()
        lab.create_hosts("app", 2, "green")
        lab.create_hosts("db", 1, "green")
        env = LabEnvironment(lab)
        env.deploy("blue", "1.0")
        yield env, root
    finally:
        lab.down()
    assert leftovers(settings) == []


def operator_inventory(env: LabEnvironment, path: Path) -> Path:
    """The fleet as an operator lists it: pools by colour and role, under a site."""
    groups: dict[str, dict] = {}
    for rec in env.lab.records():
        group = f"{rec.color}_{rec.role}" if rec.color else rec.role
        groups.setdefault(group, {"hosts": {}})["hosts"][rec.name] = {"ansible_host": rec.address}
    path.write_text(yaml.safe_dump({"all": {"children": {"shop": {"children": groups}}}}))
    return path


def write_config(env: LabEnvironment, root: Path, name: str, **changes) -> Path:
    doc = sample_doc()
    doc.update(environment="shop", state_dir=str(root / "state"),
               provider={"kind": "static",
                         "inventory": str(operator_inventory(env, root / "hosts.yml")),
                         "ssh_key": str(env.lab.key_path),
                         "known_hosts": str(env.lab.known_hosts),
                         "green_hosts": {"app": 2, "db": 1}},
               bake={"duration_s": 3, "interval_s": 1}, retire={"keep_blue_s": 0},
               notify={"webhook_url_env": "GS_TEST_HOOK"})
    doc.update(changes)
    path = root / name
    path.write_text(yaml.safe_dump(doc))
    return path


def get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as resp:
            return resp.status
    except OSError:
        return 0


def test_two_rollouts_swap_the_pools_and_a_timer_run_patches_the_old_blue(
        fleet, monkeypatch):
    env, root = fleet
    for key, value in env.secrets().items():
        monkeypatch.setenv(key, value)
    hook = Receiver()
    monkeypatch.setenv("GS_TEST_HOOK", hook.url)
    records = {r.name: r for r in env.lab.records()}
    lb_url = f"http://{records['lb-1'].address}"
    old_blue = sorted(n for n, r in records.items() if r.color == "blue")

    # 1. v1 -> v2 onto the green pool, under load through the LB.
    cfg = config.load(write_config(env, root, "v2.yml"))
    load = Load(lb_url, rate=40, workers=4, max_requests=20_000, max_seconds=600,
                guard=lambda _u: env.check_route()).start()
    try:
        first = rollout.rollout(cfg, print)
    finally:
        result = load.stop()
    journal = Journal(cfg.state_dir)
    assert journal.rollout(first.rollout_id).state == "succeeded"
    assert (result.requests > 50, result.failures, result.stale_reads) == (True, 0, 0)
    assert load.lost() == []
    assert env.get_json(lb_url + "/health")["version"] == "2.0"
    assert sorted(first.facts["retired_hosts"]) == old_blue
    assert not {h.name for h in first.fleet.provider.hosts()} & set(old_blue)  # released
    assert get(f"http://{records['blue-app-1'].address}:8000/health") == 0  # app stopped
    assert set(first.facts["patched"]) == set(first.facts["green_hosts"])

    # 2. Patch-only: same app and schema, identity transform; run as the timer does.
    hook.got.clear()
    path = write_config(env, root, "patch.yml", window={"cron": "* * * * *", "duration_m": 60})
    doc = yaml.safe_load(path.read_text())
    doc["database"]["transform"] = str(SAMPLE_APP / "identity.py")
    path.write_text(yaml.safe_dump(doc))
    patch_cfg = config.load(path)
    units = schedule.units(patch_cfg, path, greenswap=str(Path(sys.executable).parent
                                                          / "greenswap"))
    exec_start = next(line.split("=", 1)[1] for line in units["greenswap-shop.service"]
                      .splitlines() if line.startswith("ExecStart="))
    done = subprocess.run(shlex.split(exec_start), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]

    second = journal.latest("shop")
    assert second.id != first.rollout_id and second.state == "succeeded"
    assert (second.facts["blue"], second.facts["green"]) == ("green", "blue")
    assert sorted(second.facts["green_hosts"]) == old_blue  # the old blue, claimed back
    assert second.facts["reason"] == "patch window (greenswap-shop.timer)"
    assert env.get_json(lb_url + "/health")["version"] == "2.0"
    assert load.lost() == []  # rollout 1's writes survived rollout 2 too

    texts = [m["text"].split(": ", 1)[1] for m in hook.got]
    assert texts[0] == "preflight started" and texts[-1] == "succeeded"
    phases_done = [t.split()[0] for t in texts if " done in " in t]
    assert phases_done == list(PHASES)
    assert all(env.secrets()["GREENSWAP_DB_PASSWORD"] not in str(m) for m in hook.got)
    hook.close()

    page = root / "report.html"
    made = subprocess.run(
        [str(Path(sys.executable).parent / "greenswap"), "report", "latest", "--config",
         str(path), "--output", str(page)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    dom = rendered_dom(page)
    for host in old_blue:
        assert f"<td>{host}</td>" in dom
    patched = dom.split('<table id="patched">')[1].split("</table>")[0]
    assert patched.count(UPDATE.replace(">", "&gt;")) == len(old_blue)
    assert 'id="timeline"' in dom and 'data-rendered="10"' in dom

    # The secrets planted in the environment are nowhere: journal, run artifacts,
    # inventories, the report, the webhook's messages, the CLI's output, --json.
    status = subprocess.run(
        [str(Path(sys.executable).parent / "greenswap"), "status", "--json", "-c", str(path)],
        capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and '"state": "succeeded"' in status.stdout
    said = (done.stdout + done.stderr + made.stdout + made.stderr + status.stdout
            + json.dumps(hook.got)).encode()
    artifacts = [p for p in (root / "state").rglob("*") if p.is_file()] + [page]
    assert len(artifacts) > 20  # the journal, Ansible's runs, inventories, the report
    for secret in (env.db_password(), env.admin_password()):
        leaks = [str(p) for p in artifacts if secret.encode() in p.read_bytes()]
        assert leaks == [] and secret.encode() not in said
