"""A real moto_server on loopback, and the base infrastructure Terraform would make.

moto emulates AWS's control plane only: there are no real instances and no traffic
through the ALB. What the tests here check is the AWS calls greenswap makes and
the state they leave (the listener's actions, groups, templates, lease items).
`base` creates, with plain boto3 calls, the resources terraform/ declares (Terraform
cannot apply here: no provider registry), and hands greenswap the same
`terraform output -json` document it would read in production.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestrator.aws import outputs
from orchestrator.aws.clients import Clients

REGION = "eu-west-1"
MOTO_BIN = Path(sys.executable).with_name("moto_server")
START_DEADLINE_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_S
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# Where IAM names a service differently from its endpoint.
IAM_PREFIX = {"monitoring": "cloudwatch"}
POLICY = Path(__file__).resolve().parents[2] / "docs" / "aws-iam-policy.json"


def documented_actions() -> set[str]:
    actions: set[str] = set()
    for statement in json.loads(POLICY.read_text())["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.fixture
def aws(moto_url, monkeypatch):
    """The tests' own clients: set-up and inspection, not greenswap's calls."""
    # Dummy credentials: moto accepts any, and no real ones may be used by mistake.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    urllib.request.urlopen(urllib.request.Request(  # noqa: S310
        f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    return Clients(REGION, endpoint_url=moto_url)


def make_base(aws: Clients, environment: str = "shop") -> dict:
    """What `terraform apply` of terraform/ would leave, as `terraform output -json`."""
    prefix = f"gs-{environment}"
    vpc = aws.ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24",
                                     AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    sg = aws.ec2.create_security_group(GroupName=f"{prefix}-app", Description="app",
                                       VpcId=vpc)["GroupId"]
    lb = aws.elbv2.create_load_balancer(Name=prefix, Subnets=subnets, SecurityGroups=[sg],
                                        Type="application")["LoadBalancers"][0]
    groups = {c: aws.elbv2.create_target_group(
        Name=f"{prefix}-{c}", Protocol="HTTP", Port=8080, VpcId=vpc,
        HealthCheckPath="/healthz")["TargetGroups"][0]["TargetGroupArn"]
        for c in ("blue", "green")}
    listener = aws.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}])
    image = aws.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = aws.ec2.create_launch_template(
        LaunchTemplateName=f"{prefix}-app", LaunchTemplateData={
            "ImageId": image, "InstanceType": "t3.small", "SecurityGroupIds": [sg]},
    )["LaunchTemplate"]["LaunchTemplateId"]
    aws.dynamodb.create_table(
        TableName=f"{prefix}-lease", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "environment", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "environment", "AttributeType": "S"}])
    values = {
        "region": REGION, "environment": environment, "name_prefix": prefix, "vpc_id": vpc,
        "subnet_ids": subnets, "listener_arn": listener["Listeners"][0]["ListenerArn"],
        "target_group_arns": groups, "launch_template_id": template,
        "app_security_group_id": sg, "lease_table": f"{prefix}-lease",
        "alb_dns_name": lb["DNSName"],
    }
    return {k: {"sensitive": False, "type": "string", "value": v} for k, v in values.items()}


@pytest.fixture
def base(aws, tmp_path):
    path = tmp_path / "terraform-outputs.json"
    path.write_text(json.dumps(make_base(aws)))
    os.chmod(path, 0o600)
    return outputs.read(path)


@pytest.fixture
def documented_calls(monkeypatch):
    """From here on, every Clients greenswap's code makes records each API call, and at
    teardown every call must be one docs/aws-iam-policy.json allows: the documented
    policy is the one the code needs. (Request it after `aws`: the tests' own set-up
    and inspection calls are not greenswap's.)"""
    made: set[str] = set()

    def record(model, **_kwargs):
        prefix = model.service_model.endpoint_prefix
        made.add(f"{IAM_PREFIX.get(prefix, prefix)}:{model.name}")

    made_by_boto = Clients.__init__

    def recording(self, *args, **kwargs):
        made_by_boto(self, *args, **kwargs)
        self._session.events.register("before-call", record)

    monkeypatch.setattr(Clients, "__init__", recording)
    yield made
    undocumented = made - documented_actions()
    assert not undocumented, f"calls missing from docs/aws-iam-policy.json: {sorted(undocumented)}"


@pytest.fixture
def greenswap_aws(aws, documented_calls, moto_url):
    """The clients greenswap's code gets."""
    return Clients(REGION, endpoint_url=moto_url)
