"""AWS as a provider: green's app hosts are an Auto Scaling group of its own.

Terraform owns the base (terraform/, read through aws/outputs.py); greenswap makes,
tags and later deletes only what is its own:
- a launch template per colour, copied from Terraform's with the image swapped in
  (Terraform's template is never given a new version);
- an Auto Scaling group per colour, attached to that colour's target group;
- images it bakes (`bake_image`), from the base image patched by a playbook.

Every wait has a deadline and fails with a CloudError that names what it waited for.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.aws import ids
from orchestrator.aws.clients import Clients
from orchestrator.aws.outputs import COLORS, Base, read_for
from orchestrator.config.section import Section
from orchestrator.errors import CloudError, ConfigError, InputError
from orchestrator.fsutil import write_atomic
from orchestrator.providers import inventory
from orchestrator.providers.base import Host, ProviderKind, check_count

if TYPE_CHECKING:
    from orchestrator.config import Config

TAG_ENV = "greenswap:environment"
TAG_OWNER = "greenswap:owner"
TAG_COLOR = "greenswap:color"
TAG_ROLE = "greenswap:role"
POLL_S = 2.0
DEFAULT_DEADLINE_S = 900.0


AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class AwsSettings:
    """provider.* for kind aws (what Terraform made is the config's `aws` section)."""

    ssh_key: Path
    image_id: str | None = None  # green's image; None: the launch template's
    bake_from: str | None = None  # or: bake green's image from this one, patched
    state_dir = None  # the journal is in /var/lib/greenswap, unless state_dir says

    @classmethod
    def read(cls, section: Section) -> AwsSettings:
        settings = cls(section.private_file("ssh_key"),
                       section.optional_text("image_id", pattern=AMI),
                       section.optional_text("bake_from", pattern=AMI))
        if settings.image_id and settings.bake_from:
            raise ConfigError("provider.bake_from", "and provider.image_id exclude each other",
                              "give the image to use, or the one to bake it from")
        return settings


def open_aws(cfg: Config) -> AwsProvider:
    """provider.kind aws: green as an Auto Scaling group in Terraform's base."""
    settings: AwsSettings = cfg.provider.settings
    assert cfg.aws is not None  # config: provider.kind aws requires the aws section
    base = read_for(cfg.aws.terraform_outputs, cfg.environment)
    return AwsProvider(Clients(base.region, cfg.aws.endpoint_url), base,
                       cfg.state_dir / cfg.environment, settings.ssh_key,
                       image_id=settings.image_id, base_image=settings.bake_from)


class AwsProvider:
    def __init__(self, clients, base: Base, state_dir: Path, key_path: Path,
                 image_id: str | None = None, base_image: str | None = None,
                 deadline_s: float = DEFAULT_DEADLINE_S, poll_s: float = POLL_S,
                 say: Callable[[str], None] = lambda _m: None) -> None:
        self.aws, self.base = clients, base
        self.state_dir, self.key_path = state_dir, key_path
        self.known_hosts = state_dir / "aws-known_hosts"
        self.image_id = ids.check_id("aws.image_id", image_id, "ami") if image_id else None
        self.base_image = base_image
        self.deadline_s, self.poll_s, self.say = deadline_s, poll_s, say

    # -- the Provider protocol --------------------------------------------------------

    def create_hosts(self, role: str, count: int, color: str | None = "green") -> list[Host]:
        if role != "app":
            raise InputError(f"role: on AWS greenswap builds app hosts only, not {role!r}; the "
                             "database and the ALB are given by config and Terraform")
        check_count(count)
        if color is None:
            raise InputError("color: AWS hosts are app hosts of a colour (blue or green)")
        group = self._name(color)
        left = self._describe_group(group)
        if left is not None:  # by an interrupted run: built afresh, as big as both
            count += len(left.get("Instances", []))
            self.destroy_color(color)
        template = self._launch_template(color, self.image_id)
        # MinSize 0: single hosts can then be taken out (destroy_hosts) without AWS
        # refusing to go under the minimum; the desired count keeps the group full.
        self._call("autoscaling", "create_auto_scaling_group",
                   AutoScalingGroupName=group,
                   LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
                   MinSize=0, MaxSize=count, DesiredCapacity=count,
                   VPCZoneIdentifier=",".join(self.base.subnet_ids),
                   TargetGroupARNs=[self.base.target_groups[color]],
                   HealthCheckType="ELB", HealthCheckGracePeriod=120,
                   Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True}
                         for k, v in self._tags(color, role).items()])
        self.say(f"{group}: waiting for {count} instances in service")
        try:
            self._wait(f"{count} InService instances in {group}",
                       lambda: len(self._in_service(group)) >= count)
        except CloudError:
            self.destroy_color(color)  # a failed green is never left running
            raise
        return [h for h in self.hosts() if h.color == color]

    def destroy_hosts(self, names: Iterable[str]) -> None:
        wanted = set(names)
        mine = {h.name: h for h in self.hosts()}
        unknown = sorted(wanted - set(mine))
        if unknown:
            raise InputError(f"hosts: {', '.join(unknown)} are not greenswap's instances in "
                             f"{self.base.environment}; nothing was destroyed")
        for color in sorted({c for n in wanted if (c := mine[n].color)}):
            if {n for n, h in mine.items() if h.color == color} <= wanted:
                self.destroy_color(color)
            else:
                for name in sorted(n for n in wanted if mine[n].color == color):
                    self._call("autoscaling", "terminate_instance_in_auto_scaling_group",
                               InstanceId=name, ShouldDecrementDesiredCapacity=True)

    def destroy_color(self, color: str) -> None:
        """Scale the colour's group to zero (each instance leaves its target group
        through the deregistration delay, so open requests finish), then delete it
        and its launch template. Idempotent."""
        group = self._name(color)
        if self._describe_group(group) is not None:
            self._call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=group,
                       MinSize=0, DesiredCapacity=0)
            self._wait(f"{group} scaled to zero", lambda: not (
                self._describe_group(group) or {}).get("Instances"))
            self._call("autoscaling", "delete_auto_scaling_group", AutoScalingGroupName=group)
            self._wait(f"{group} deleted", lambda: self._describe_group(group) is None)
        templates = self._call("ec2", "describe_launch_templates", Filters=[
            {"Name": "launch-template-name", "Values": [self._name(color)]}])
        for t in templates["LaunchTemplates"]:
            self._call("ec2", "delete_launch_template", LaunchTemplateId=t["LaunchTemplateId"])

    def hosts(self) -> list[Host]:
        out = self._call("ec2", "describe_instances", Filters=[
            {"Name": f"tag:{TAG_ENV}", "Values": [self.base.environment]},
            {"Name": f"tag:{TAG_OWNER}", "Values": ["greenswap"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        found = []
        for reservation in out["Reservations"]:
            for inst in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                found.append(Host(inst["InstanceId"], tags.get(TAG_ROLE, "app"),
                                  tags.get(TAG_COLOR), inst.get("PrivateIpAddress", "")))
        return sorted(found, key=lambda h: h.name)

    def inventory(self) -> Path:
        hosts = self.hosts()
        self.pin_host_keys(hosts)
        path = self.state_dir / "aws-inventory.yml"
        inventory.write(path, inventory.render(hosts, self.key_path, self.known_hosts, ""))
        return path

    def ssh_identity(self) -> tuple[Path, Path]:
        self.pin_host_keys(self.hosts())
        return self.key_path, self.known_hosts

    def pin_host_keys(self, hosts: list[Host]) -> None:
        """known_hosts for exactly these instances, each key read from the instance's
        console output (cloud-init prints its host keys there at first boot), which
        AWS's authenticated API delivers: never learned from the network on first use.
        Addresses no longer ours are dropped, so a reused address is not trusted."""
        pinned = dict(line.split(" ", 1) for line in _lines(self.known_hosts))
        fresh = {}
        for host in hosts:
            fresh[host.address] = pinned.get(host.address) or self._console_host_key(host)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.known_hosts, "".join(f"{a} {k}\n" for a, k in sorted(fresh.items())),
                     0o600)

    def _console_host_key(self, host: Host) -> str:
        found: list[str] = []

        def printed() -> bool:
            out = self._call("ec2", "get_console_output", InstanceId=host.name)
            found[:] = host_keys_in(out.get("Output") or "")
            return bool(found)
        self._wait(f"ssh-ed25519 host key in the console output of {host.name}", printed)
        return found[0]

    def check_route(self, address: str) -> None:
        vpc = self._call("ec2", "describe_vpcs", VpcIds=[self.base.vpc_id])["Vpcs"][0]
        if ipaddress.ip_address(address) not in ipaddress.ip_network(vpc["CidrBlock"]):
            raise InputError(f"address {address} is outside VPC {self.base.vpc_id} "
                             f"({vpc['CidrBlock']}); greenswap only talks to its own hosts")

    # -- images -----------------------------------------------------------------------

    def bake_image(self, base_image: str, patch: Callable[[list[Host]], None],
                   name: str) -> str:
        """Launch one instance from `base_image`, `patch` it (a playbook run), and
        save it as a new image: green's hosts then start patched."""
        ids.check_id("aws.base_image_id", base_image, "ami")
        run = self._call("ec2", "run_instances", MinCount=1, MaxCount=1, ImageId=base_image,
                         LaunchTemplate={"LaunchTemplateId": self.base.launch_template_id},
                         SubnetId=self.base.subnet_ids[0],
                         TagSpecifications=[{"ResourceType": "instance", "Tags": self._tag_list(
                             "bake", "app")}])
        instance = run["Instances"][0]["InstanceId"]
        try:
            self._wait(f"{instance} running", lambda: self._state(instance) == "running")
            patch([h for h in self.hosts() if h.name == instance])
            image = self._call("ec2", "create_image", InstanceId=instance, Name=name,
                               TagSpecifications=[{"ResourceType": "image",
                                                   "Tags": self._tag_list("bake", "app")}])
            image_id = image["ImageId"]
            self._wait(f"image {image_id} available",
                       lambda: self._image_state(image_id) == "available")
        finally:
            try:
                self._call("ec2", "terminate_instances", InstanceIds=[instance])
            except CloudError as exc:  # the first error matters more; this one is said
                self.say(f"could not terminate the baking instance {instance}: {exc}")
        self.image_id = image_id
        return image_id

    # -- plumbing ---------------------------------------------------------------------

    def _name(self, color: str | None) -> str:
        """The name of the colour's group and of its launch template."""
        if color not in COLORS:
            raise InputError(f"color: unknown colour {color!r}; expected blue or green")
        return f"{self.base.name_prefix}-{color}-app"

    def _tags(self, color: str, role: str) -> dict[str, str]:
        return {TAG_ENV: self.base.environment, TAG_OWNER: "greenswap", TAG_COLOR: color,
                TAG_ROLE: role, "Name": f"{self.base.name_prefix}-{color}-{role}"}

    def _tag_list(self, color: str, role: str) -> list[dict]:
        return [{"Key": k, "Value": v} for k, v in self._tags(color, role).items()]

    def _launch_template(self, color: str, image_id: str | None) -> str:
        """Our copy of Terraform's template, with `image_id` if one is given."""
        versions = self._call("ec2", "describe_launch_template_versions",
                              LaunchTemplateId=self.base.launch_template_id,
                              Versions=["$Latest"])["LaunchTemplateVersions"]
        data = dict(versions[0]["LaunchTemplateData"])
        if image_id:
            data["ImageId"] = image_id
        name = self._name(color)
        existing = self._call("ec2", "describe_launch_templates", Filters=[
            {"Name": "launch-template-name", "Values": [name]}])["LaunchTemplates"]
        for t in existing:  # left by an interrupted run: ours, replace it
            self._call("ec2", "delete_launch_template", LaunchTemplateId=t["LaunchTemplateId"])
        made = self._call("ec2", "create_launch_template", LaunchTemplateName=name,
                          LaunchTemplateData=data, TagSpecifications=[{
                              "ResourceType": "launch-template",
                              "Tags": self._tag_list(color, "app")}])
        return made["LaunchTemplate"]["LaunchTemplateId"]

    def _describe_group(self, group: str) -> dict | None:
        out = self._call("autoscaling", "describe_auto_scaling_groups",
                         AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return out[0] if out else None

    def _in_service(self, group: str) -> list[str]:
        found = self._describe_group(group)
        return [i["InstanceId"] for i in (found or {}).get("Instances", [])
                if i["LifecycleState"] == "InService"]

    def _state(self, instance: str) -> str:
        # Just launched, an instance may not be visible yet (AWS is eventually
        # consistent): that is "not yet", not a failure.
        try:
            out = self.aws.ec2.describe_instances(InstanceIds=[instance])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return "unknown"
            raise CloudError(f"ec2 describe_instances failed: {exc}") from exc
        found = [i for r in out["Reservations"] for i in r["Instances"]]
        return found[0]["State"]["Name"] if found else "unknown"

    def _image_state(self, image_id: str) -> str:
        images = self._call("ec2", "describe_images", ImageIds=[image_id])["Images"]
        return images[0]["State"] if images else "unknown"

    def _wait(self, what: str, done: Callable[[], bool]) -> None:
        end = time.monotonic() + self.deadline_s
        while not done():
            if time.monotonic() > end:
                raise CloudError(f"no {what} after {self.deadline_s:.0f}s")
            time.sleep(self.poll_s)

    def _call(self, service: str, method: str, **kwargs):
        try:
            return getattr(getattr(self.aws, service), method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise CloudError(f"{service} {method} failed: {exc}") from exc


def host_keys_in(console: str) -> list[str]:
    """The "ssh-ed25519 AAAA..." keys cloud-init printed between its markers."""
    inside, keys = False, []
    for line in console.splitlines():
        if "-----BEGIN SSH HOST KEY KEYS-----" in line:
            inside = True
        elif "-----END SSH HOST KEY KEYS-----" in line:
            inside = False
        elif inside and line.startswith("ssh-ed25519 "):
            keys.append(" ".join(line.split()[:2]))
    return keys


def _lines(path: Path) -> list[str]:
    try:
        return [ln for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        return []


KIND = ProviderKind(AwsSettings.read, open_aws)
