"""Terraform's outputs, as greenswap reads them: `terraform output -json`.

Read from a file the operator saved, or by running terraform in the module's
directory. Every value is checked for shape (ids.py) before anything acts on it.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.aws import ids
from orchestrator.errors import ConfigError

# The outputs greenswap reads; terraform/outputs.tf must declare each one (tested).
REQUIRED = ("region", "environment", "name_prefix", "vpc_id", "subnet_ids", "listener_arn",
            "target_group_arns", "launch_template_id", "app_security_group_id", "lease_table")
TERRAFORM_TIMEOUT_S = 120
COLORS = ("blue", "green")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class Base:
    """What Terraform made, and greenswap must never change (but the listener's action)."""

    region: str
    environment: str
    name_prefix: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    listener_arn: str
    target_groups: dict[str, str]  # colour -> target group ARN
    launch_template_id: str
    app_security_group_id: str
    lease_table: str


def read(source: Path) -> Base:
    """`source`: a saved `terraform output -json` file, or the module's directory."""
    if source.is_dir():
        raw = _run_terraform(source)
    else:
        try:
            raw = json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError("aws.terraform_outputs", f"cannot read {source}: {exc}") from exc
    return parse(raw)


@functools.lru_cache(maxsize=8)
def read_for(source: Path, environment: str) -> Base:
    """The outputs of `environment`'s Terraform; another environment's are refused.
    Read once per process: the provider, the LB and the lease all need them, and a
    module directory means a `terraform output` run."""
    base = read(source)
    if base.environment != environment:
        raise ConfigError("aws.terraform_outputs", f"is for environment {base.environment!r}, "
                          f"not {environment!r}", "point it at this environment's outputs")
    return base


def _run_terraform(module: Path) -> dict:
    if shutil.which("terraform") is None:
        raise ConfigError("aws.terraform_outputs", "terraform is not on PATH",
                          "install Terraform, or save 'terraform output -json' to a file "
                          "and point aws.terraform_outputs at it")
    try:
        done = subprocess.run(["terraform", f"-chdir={module}", "output", "-json"],
                              capture_output=True, text=True, timeout=TERRAFORM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ConfigError("aws.terraform_outputs",
                          f"terraform output took over {TERRAFORM_TIMEOUT_S}s") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError("aws.terraform_outputs", f"terraform output failed: {last}")
    return json.loads(done.stdout)


def parse(raw: object) -> Base:
    if not isinstance(raw, dict):
        raise ConfigError("aws.terraform_outputs", "is not the JSON object of "
                          "'terraform output -json'")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise ConfigError(f"terraform output {missing[0]}", "is missing; apply the module in "
                          "terraform/ (its outputs.tf declares it)")
    v = {k: raw[k]["value"] if isinstance(raw[k], dict) and "value" in raw[k] else raw[k]
         for k in REQUIRED}
    region = v["region"]
    if not isinstance(region, str) or not REGION.match(region):
        raise ConfigError("terraform output region", f"{region!r} is not an AWS region")
    tgs = v["target_group_arns"]
    if not isinstance(tgs, dict) or sorted(tgs) != sorted(COLORS):
        raise ConfigError("terraform output target_group_arns", "must map blue and green to "
                          "target group ARNs")
    subnets = v["subnet_ids"]
    if not isinstance(subnets, list) or not subnets:
        raise ConfigError("terraform output subnet_ids", "must list at least one subnet")
    return Base(
        region=region, environment=v["environment"], name_prefix=v["name_prefix"],
        vpc_id=ids.check_id("terraform output vpc_id", v["vpc_id"], "vpc"),
        subnet_ids=tuple(ids.check_id("terraform output subnet_ids", s, "subnet")
                         for s in subnets),
        listener_arn=ids.check_arn("terraform output listener_arn", v["listener_arn"],
                                   "listener", region),
        target_groups={c: ids.check_arn(f"terraform output target_group_arns.{c}", tgs[c],
                                        "targetgroup", region) for c in COLORS},
        launch_template_id=ids.check_id("terraform output launch_template_id",
                                        v["launch_template_id"], "lt"),
        app_security_group_id=ids.check_id("terraform output app_security_group_id",
                                           v["app_security_group_id"], "sg"),
        lease_table=ids.check_table("terraform output lease_table", v["lease_table"]),
    )
