"""The ALB listener switch against moto: flip, canary, read-back, refusals."""

from __future__ import annotations

import pytest

from orchestrator.aws import outputs
from orchestrator.errors import ConfigError, InputError, LoadBalancerError
from orchestrator.lb.aws_alb import AlbLoadBalancer
from orchestrator.lb.base import canary


def listener_groups(aws, base) -> dict[str, int]:
    """The listener's forward targets as AWS reports them, by colour."""
    action = aws.elbv2.describe_listeners(ListenerArns=[base.listener_arn])["Listeners"][0][
        "DefaultActions"][0]
    by_arn = {arn: c for c, arn in base.target_groups.items()}
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 100}]
    return {by_arn[g["TargetGroupArn"]]: g["Weight"] for g in groups}


def test_flip_moves_the_listener_and_reads_it_back(aws, greenswap_aws, base):
    alb = AlbLoadBalancer(greenswap_aws, base)
    assert alb.live_color() == "blue"
    alb.flip("green")
    assert listener_groups(aws, base) == {"green": 100, "blue": 0}
    assert alb.live_color() == "green"
    alb.flip("blue")
    assert listener_groups(aws, base) == {"blue": 100, "green": 0}


def test_canary_steps_and_a_failed_check_sends_everything_back(aws, greenswap_aws, base):
    alb = AlbLoadBalancer(greenswap_aws, base)
    seen = []

    def check(percent):
        seen.append((percent, listener_groups(aws, base)["green"]))
        if percent == 50:
            raise RuntimeError("green's error rate is over the bake trigger")

    with pytest.raises(RuntimeError):
        canary(alb, "green", [10, 50, 100], check)
    assert seen == [(10, 10), (50, 50)]  # each check saw the listener at its step
    assert listener_groups(aws, base) == {"blue": 100, "green": 0}

    assert canary(alb, "green", [10, 50, 100], lambda _p: None) == [10, 50, 100]
    assert alb.live_color() == "green"


def test_a_split_listener_has_no_single_live_colour(aws, greenswap_aws, base):
    alb = AlbLoadBalancer(greenswap_aws, base)
    alb.shift("green", 10)
    assert alb.weights() == {"blue": 90, "green": 10}
    with pytest.raises(LoadBalancerError, match="canary is in progress"):
        alb.live_color()


def test_a_listener_pointing_elsewhere_is_reported_not_trusted(aws, greenswap_aws, base):
    stray = aws.elbv2.create_target_group(Name="stray", Protocol="HTTP", Port=80,
                                          VpcId=base.vpc_id)["TargetGroups"][0]
    aws.elbv2.modify_listener(ListenerArn=base.listener_arn, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": stray["TargetGroupArn"]}])
    with pytest.raises(LoadBalancerError, match="neither colour's target group"):
        AlbLoadBalancer(greenswap_aws, base).live_color()


def test_bad_canary_steps_and_bad_arns_are_refused_before_any_call(aws, greenswap_aws, base):
    alb = AlbLoadBalancer(greenswap_aws, base)
    for steps in ([], [50, 10, 100], [10, 50], [0, 100]):
        with pytest.raises(InputError, match="cutover.canary_steps"):
            canary(alb, "green", steps, lambda _p: None)
    assert listener_groups(aws, base) == {"blue": 100}
    # moto would take any string here; greenswap refuses it, naming the output.
    raw = {k: getattr(base, k) for k in ("region", "environment", "name_prefix", "vpc_id",
                                         "listener_arn", "launch_template_id",
                                         "app_security_group_id", "lease_table")}
    raw.update(subnet_ids=list(base.subnet_ids), target_group_arns=dict(base.target_groups))
    raw["target_group_arns"]["green"] = "arn:aws:elasticloadbalancing:eu-west-1:1:tg/x"
    with pytest.raises(ConfigError, match="target_group_arns.green"):
        outputs.parse(raw)
    raw["target_group_arns"] = dict(base.target_groups)
    raw["listener_arn"] = base.listener_arn.replace("eu-west-1", "us-east-1")
    with pytest.raises(ConfigError, match="is in region us-east-1, not eu-west-1"):
        outputs.parse(raw)
    del raw["lease_table"]
    with pytest.raises(ConfigError, match="terraform output lease_table: is missing"):
        outputs.parse(raw)
