"""Whole rollouts through the AWS code path: the runbook with `provider.kind: aws`,
`lb.kind: aws-alb` and the DynamoDB lease, against a moto_server on loopback.

What is real and what is emulated, plainly:
- real: every AWS call greenswap makes (Auto Scaling group, launch template copy,
  listener weights, target health, CloudWatch, DynamoDB lease) against moto;
  Ansible over SSH, the app, its health checks and the shared PostgreSQL, on lab
  hosts;
- emulated: moto runs no instance. Each moto instance is stood in for by one lab
  host of its colour (`LabBacked` below maps them by order; the instance that bakes
  green's image by a spare lab host, so its patch run is real), and the host keys are
  the lab's pins instead of ones read from the instance's console output (moto's
  console output is a fixed text). No request crosses the ALB: the listener's
  state is read back from moto after every canary step, by a check command that
  the rollout itself runs between steps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator import config
from orchestrator.lab import network
from orchestrator.lab.environment import LabEnvironment
from orchestrator.lab.lab import Lab
from orchestrator.providers.aws import AwsProvider
from orchestrator.providers.base import Host
from orchestrator.runbook import context as runbook_context
from orchestrator.runbook import rollout
from orchestrator.runbook.journal import Journal
from tests.aws.conftest import REGION, make_base
from tests.conftest import leftovers, make_settings

pytestmark = pytest.mark.lab

SAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "sample-app"
SUBNET = "198.18.102.0/24"

LISTENER_PROBE = """\
import json, os, sys
import boto3

elb = boto3.client("elbv2", region_name={region!r}, endpoint_url={endpoint!r})
action = elb.describe_listeners(ListenerArns=[{listener!r}])["Listeners"][0]["DefaultActions"][0]
groups = action.get("ForwardConfig", {{}}).get("TargetGroups") or [
    {{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}}]
colors = {colors!r}
total = sum(g.get("Weight", 1) for g in groups) or 1
weights = {{colors[g["TargetGroupArn"]]: round(100 * g.get("Weight", 1) / total) for g in groups}}
with open({log!r}, "a") as out:
    out.write(json.dumps(weights) + "\\n")
if os.path.exists({marker!r}) and weights.get(os.environ["GREENSWAP_COLOR"]) == 50:
    print("injected fault: green fails its checks at 50%")
    sys.exit(1)
"""


class LabBacked(AwsProvider):
    """The AWS provider, with each (moto) instance backed by a lab host of its colour."""

    def __init__(self, *args, lab: Lab, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lab = lab

    def hosts(self) -> list[Host]:
        stand_ins: dict[str, list] = {}
        for rec in self.lab.records():
            if rec.role == "app":
                stand_ins.setdefault(rec.color, []).append(rec)
        spare = stand_ins["green"][-1]  # never a colour's: see stand_ins()
        backed = [Host(h.name, h.role, "bake", spare.address)
                  for h in super().hosts() if h.color == "bake"]
        for color in ("blue", "green"):
            mine = [h for h in super().hosts() if h.color == color]
            assert len(mine) <= len(stand_ins.get(color, [])), "more instances than lab hosts"
            backed += [Host(h.name, h.role, color, rec.address)
                       for h, rec in zip(mine, stand_ins.get(color, []), strict=False)]
        return backed

    def pin_host_keys(self, hosts: list[Host]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.lab.known_hosts, self.known_hosts)

    def check_route(self, address: str) -> None:
        network.check_on_bridge(address, self.lab.settings.bridge)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """Lab hosts for both colours' instances, and the one database both colours share,
    with app 2.0 on blue's hosts (as a previous rollout would have left them)."""
    settings = make_settings(tmp_path_factory.mktemp("awslab"), "gsa", SUBNET)
    lab = Lab(settings)
    try:
        lab.up()
        lab.create_hosts("app", 3, "green")  # the third stands in for the image baker
        env = LabEnvironment(lab)
        env.deploy("blue", "2.0")
        yield env
    finally:
        lab.down()
    assert leftovers(settings) == []


def write_config(env: LabEnvironment, tmp_path: Path, moto_url: str, base_doc: dict,
                 base_image: str) -> Path:
    outputs = tmp_path / "terraform.json"
    outputs.write_text(json.dumps(base_doc))
    values = {k: v["value"] for k, v in base_doc.items()}
    colors = {arn: color for color, arn in values["target_group_arns"].items()}
    probe = tmp_path / "listener_probe.py"
    probe.write_text(LISTENER_PROBE.format(
        region=REGION, endpoint=moto_url, listener=values["listener_arn"], colors=colors,
        log=str(tmp_path / "listener.log"), marker=str(tmp_path / "sick-at-50")))
    db = next(r.address for r in env.lab.records() if r.role == "db")
    doc = {
        "environment": "shop", "state_dir": str(tmp_path / "state"),
        "provider": {"kind": "aws", "ssh_key": str(env.lab.key_path),
                     "green_hosts": {"app": 2}, "bake_from": base_image},
        "app": {"version": "2.0", "port": 8000, "deploy": str(SAMPLE_APP / "deploy.yml")},
        "database": {"mode": "shared", "host": db},
        "lb": {"kind": "aws-alb"},
        "lease": {"backend": "dynamodb"},
        "aws": {"terraform_outputs": str(outputs), "endpoint_url": moto_url},
        "checks": [
            {"name": "app health", "kind": "http", "path": "/health"},
            {"name": "listener", "kind": "command", "scopes": ["bake"],
             "command": f"{sys.executable} {probe}"},
        ],
        "cutover": {"canary_steps": [10, 50, 100], "canary_interval_s": 1},
        "bake": {"duration_s": 2, "interval_s": 1, "failures": 1},
        "retire": {"keep_blue_s": 0},
    }
    path = tmp_path / "shop.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def listener_log(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "listener.log").read_text().splitlines()]


def groups(aws) -> list[str]:
    return sorted(g["AutoScalingGroupName"] for g in
                  aws.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"])


def test_canary_rollout_then_a_rollback_from_fifty_percent(stand_ins, aws, documented_calls,
                                                           moto_url, tmp_path, monkeypatch,
                                                           capsys):
    env = stand_ins
    for key, value in env.secrets().items():
        monkeypatch.setenv(key, value)
    base_doc = make_base(aws)
    base_image = aws.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    cfg = config.load(write_config(env, tmp_path, moto_url, base_doc, base_image))

    def provider(_cfg) -> LabBacked:
        from orchestrator.aws.clients import Clients
        from orchestrator.aws.outputs import read_for

        base = read_for(cfg.aws.terraform_outputs, cfg.environment)
        return LabBacked(Clients(base.region, moto_url), base, tmp_path / "state" / "shop",
                         cfg.provider.settings.ssh_key, deadline_s=60, poll_s=0.2,
                         base_image=cfg.provider.settings.bake_from, lab=env.lab)

    monkeypatch.setattr(runbook_context, "open_provider", provider)
    provider(cfg).create_hosts("app", 2, "blue")  # blue as a previous rollout left it
    assert groups(aws) == ["gs-shop-blue-app"]

    # 0. The plan says what will happen, and that there is work to do.
    planned = subprocess.run([str(Path(sys.executable).with_name("greenswap")), "plan", "-c",
                              str(cfg.path)], capture_output=True, text=True, timeout=60)
    assert planned.returncode == 2, planned.stderr
    shifts = [line.strip() for line in planned.stdout.splitlines() if "% of new" in line]
    assert shifts == [f"- LB: {p}% of new requests to green" for p in (10, 50, 100)], shifts

    # 1. Canary 10 -> 50 -> 100 %, bake, retire.
    first = rollout.rollout(cfg, print)
    journal = Journal(cfg.state_dir)
    assert journal.rollout(first.rollout_id).state == "succeeded"
    seen = listener_log(tmp_path)
    # Read back from moto by the check the rollout ran between steps, then during bake.
    assert seen[0] == {"green": 10, "blue": 90} and {"green": 50, "blue": 50} in seen
    assert seen[-1]["green"] == 100
    canary = [e.data["weights"] for e in journal.events(first.rollout_id) if e.kind == "canary"]
    assert [w["green"] for w in canary] == [10, 50, 100]
    assert first.lb.weights() == {"blue": 0, "green": 100}
    assert groups(aws) == ["gs-shop-green-app"]  # blue retired: its group deleted
    # Green launched from the image baked for it: the base image, patched by Ansible.
    baked = first.facts["image_id"]
    template = aws.ec2.describe_launch_template_versions(LaunchTemplateName="gs-shop-green-app")
    assert template["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == baked
    assert aws.ec2.describe_images(ImageIds=[baked])["Images"][0]["State"] == "available"
    patched = [e for e in journal.events(first.rollout_id) if e.kind == "image"]
    assert patched and base_image in patched[0].message

    # 2. The next rollout builds "blue" and fails its checks at 50 %: back to 100 % old.
    (tmp_path / "sick-at-50").touch()
    (tmp_path / "listener.log").unlink()
    with pytest.raises(rollout.PhaseFailed, match="canary at 50% failed"):
        rollout.rollout(cfg, print)
    second = journal.latest("shop")
    assert second.state == "rolled-back"
    assert (second.facts["blue"], second.facts["green"]) == ("green", "blue")
    seen = listener_log(tmp_path)
    assert seen[0] == {"blue": 10, "green": 90} and seen[-1] == {"blue": 50, "green": 50}
    assert first.lb.weights() == {"blue": 0, "green": 100}  # all back on the old colour
    assert groups(aws) == ["gs-shop-green-app"]  # the failed colour's group is gone
    assert env.get_json(f"http://{first.fleet.hosts('green', 'app')[0].address}:8000/health")
    assert {"autoscaling:CreateAutoScalingGroup", "elasticloadbalancing:ModifyListener",
            "dynamodb:PutItem", "ec2:CreateImage"} <= documented_calls  # all were recorded

    # 3. The next rollout's CLI is SIGKILLed at 50 %: status says where the canary
    # stopped; resume puts every request back on the old colour, then runs the canary
    # again from 10 %, each step watched a whole canary_interval_s.
    (tmp_path / "sick-at-50").unlink()
    (tmp_path / "listener.log").unlink()
    assert killed_in_a_child(lambda: rollout.rollout(cfg, print), "after:canary 50%")
    third = journal.latest("shop")
    shown = subprocess.run([str(Path(sys.executable).with_name("greenswap")), "status",
                            "--json", "-c", str(cfg.path)], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["id"] == third.id and status["state"] == "running"
    assert status["swap"]["died_in"] == "50%" and status["swap"]["last_step"] == "10%"
    assert status["watchdog"] == [] and status["watchdog_pending"] is None  # none: no fence
    assert status["resume_will"].startswith("put every request back on blue")
    capsys.readouterr()
    resumed = rollout.resume(cfg, print)
    said = capsys.readouterr().out
    assert "lease: took over from" in said and "is gone" in said, said
    assert "at phase cutover; the cutover died in step '50%' (after '10%')" in said, said
    assert journal.rollout(resumed.rollout_id).state == "succeeded"
    events = journal.events(third.id)
    assert any(e.kind == "restore" and "interrupted canary" in e.message for e in events)
    assert listener_log(tmp_path)[-1][third.facts["green"]] == 100
    watched = [e for e in events if e.kind == "watched" and e.phase == "cutover"]
    assert [e.message.split(":")[0] for e in watched] == [
        "canary at 10%", "canary at 10%", "canary at 50%"]  # killed, then whole again
    assert all(e.data["end"] - e.data["start"] >= 1 for e in watched[1:])


def killed_in_a_child(run, fault: str, deadline_s: float = 600) -> bool:
    """Run `run` in a forked child (which inherits this test's stand-in provider) with
    the fault that SIGKILLs it; True if it died of that kill within the deadline."""
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            os.environ["GREENSWAP_FAULT"] = fault
            run()
        finally:
            os._exit(1)
    ends = time.monotonic() + deadline_s
    while time.monotonic() < ends:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)  # ours, by its pid
    os.waitpid(pid, 0)
    return False
