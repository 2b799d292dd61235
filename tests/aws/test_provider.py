"""The AWS provider against moto: green's Auto Scaling group, its image, its end.

moto runs no instances: "InService" and "healthy" are moto's bookkeeping, and the
inventory's addresses are moto's made-up private IPs, never contacted here.
"""

from __future__ import annotations

import pytest
import yaml

from orchestrator.errors import CloudError, InputError
from orchestrator.lb.aws_alb import AlbLoadBalancer
from orchestrator.providers.aws import AwsProvider, host_keys_in

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
CONSOLE = f"""[   12.3] cloud-init[812]: Cloud-init v. 23.4 running 'modules:final'
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= root@ip-10-40-0-12
{KEY} root@ip-10-40-0-12
-----END SSH HOST KEY KEYS-----
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeOutsideTheMarkers root@elsewhere
"""


@pytest.fixture
def provider(greenswap_aws, base, tmp_path):
    return AwsProvider(greenswap_aws, base, tmp_path, tmp_path / "key", deadline_s=30,
                       poll_s=0.2)


def test_green_is_an_asg_of_its_own_from_a_copy_of_terraforms_template(aws, greenswap_aws, base,
                                                                        provider, tmp_path):
    before = aws.ec2.describe_launch_template_versions(
        LaunchTemplateId=base.launch_template_id)["LaunchTemplateVersions"]
    hosts = provider.create_hosts("app", 3, "green")
    assert [h.color for h in hosts] == ["green"] * 3 and all(h.role == "app" for h in hosts)

    group = aws.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["gs-shop-green-app"])["AutoScalingGroups"][0]
    assert group["TargetGroupARNs"] == [base.target_groups["green"]]
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["greenswap:owner"] == "greenswap"
    assert group["LaunchTemplate"]["LaunchTemplateId"] != base.launch_template_id
    # Terraform's template got no new version: greenswap never changes what it owns.
    assert aws.ec2.describe_launch_template_versions(
        LaunchTemplateId=base.launch_template_id)["LaunchTemplateVersions"] == before

    health = AlbLoadBalancer(greenswap_aws, base).wait_healthy("green", 3, deadline_s=30)
    assert sorted(health) == sorted(h.name for h in hosts)

    # moto's console output has no host keys: pinned here as a harvest would have.
    (tmp_path / "aws-known_hosts").write_text("".join(f"{h.address} {KEY}\n" for h in hosts))
    doc = yaml.safe_load(provider.inventory().read_text())
    green = doc["all"]["children"]["green_app"]["hosts"]
    assert sorted(green) == sorted(h.name for h in hosts)
    assert "StrictHostKeyChecking=yes" in doc["all"]["vars"]["ansible_ssh_common_args"]


def test_retiring_a_colour_removes_only_what_greenswap_made(aws, base, provider):
    provider.create_hosts("app", 2, "green")
    provider.destroy_color("green")
    provider.destroy_color("green")  # idempotent: a resumed retire does it again
    assert aws.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["gs-shop-green-app"])["AutoScalingGroups"] == []
    left = aws.ec2.describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in left] == [base.launch_template_id]
    assert provider.hosts() == []


def test_a_baked_image_is_what_green_launches_from(aws, base, provider):
    image = aws.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    patched = []
    baked = provider.bake_image(image, lambda hosts: patched.extend(hosts), "gs-shop-2026-11")
    assert [h.color for h in patched] == ["bake"]
    provider.create_hosts("app", 1, "green")
    group = aws.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["gs-shop-green-app"])["AutoScalingGroups"][0]
    version = aws.ec2.describe_launch_template_versions(
        LaunchTemplateId=group["LaunchTemplate"]["LaunchTemplateId"])["LaunchTemplateVersions"]
    assert version[0]["LaunchTemplateData"]["ImageId"] == baked
    # The baking instance is gone.
    assert [h for h in provider.hosts() if h.color == "bake"] == []


def test_bad_requests_are_refused_before_any_call(aws, provider):
    with pytest.raises(InputError, match="app hosts only"):
        provider.create_hosts("db", 1, "green")
    with pytest.raises(InputError, match="count"):
        provider.create_hosts("app", 0, "green")
    with pytest.raises(InputError, match="not greenswap's instances"):
        provider.destroy_hosts(["i-0123456789abcdef0"])
    assert aws.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"] == []


def test_a_rerun_rebuilds_the_colour_instead_of_tripping_on_the_old_group(aws, provider):
    # An interrupted provision left a group with 1 instance; the rerun asks for the
    # 2 more it still needs: the group is built afresh with all 3, not just 2.
    first = provider.create_hosts("app", 1, "green")
    again = provider.create_hosts("app", 2, "green")
    assert len(again) == 3 and not {h.name for h in again} & {h.name for h in first}
    groups = aws.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in groups] == ["gs-shop-green-app"]


def test_host_keys_are_read_between_cloud_inits_markers_only():
    assert host_keys_in(CONSOLE) == [KEY]
    assert host_keys_in("Linux version 6.1 ... login:") == []


def test_an_instance_whose_console_shows_no_host_key_is_never_trusted(greenswap_aws, base,
                                                                       tmp_path):
    impatient = AwsProvider(greenswap_aws, base, tmp_path, tmp_path / "key", deadline_s=1,
                            poll_s=0.2)
    impatient.create_hosts("app", 1, "green")
    with pytest.raises(CloudError, match="host key in the console output"):
        impatient.inventory()  # moto's console output is a fixed text without keys
    assert not (tmp_path / "aws-known_hosts").exists()
