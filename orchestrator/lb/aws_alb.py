"""An AWS Application Load Balancer's listener as greenswap's switch.

Terraform makes the listener and one target group per colour (terraform/); greenswap
only changes the listener's default action: all of it to one colour (`flip`), or
a weighted split toward it (`shift`, walked step by step by lb.base.canary). After
every change the listener is read back and must say exactly what was asked: an
emulator, or a concurrent hand edit, must not leave the journal believing
something the ALB does not do.

An ALB cannot hold requests, and does not say how many are in flight per target
group: it is a WeightedLoadBalancer, not a HoldingLoadBalancer (lb/base.py), and
so serves a shared database's rollout only. Requests already on the old colour
finish by the target group's deregistration delay when its hosts are retired.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.aws.outputs import COLORS, Base
from orchestrator.errors import InputError, LoadBalancerError
from orchestrator.lb.base import Answers
from orchestrator.retry import poll_until

HEALTH_POLL_S = 2.0


class AlbLoadBalancer:
    def __init__(self, aws, base: Base) -> None:
        self.elbv2, self.cloudwatch = aws.elbv2, aws.cloudwatch
        self.listener = base.listener_arn
        self.groups = dict(base.target_groups)  # colour -> target group ARN
        self._color_of = {arn: color for color, arn in self.groups.items()}
        # CloudWatch's dimensions: "app/<name>/<id>" of the ALB, from the listener's ARN.
        self._alb_dimension = "/".join(self.listener.split(":")[-1].split("/")[1:4])
        self._since = datetime.now(UTC) - timedelta(minutes=1)

    # -- reading --------------------------------------------------------------------

    def weights(self) -> dict[str, int]:
        """Percent of new requests per colour, as the listener says now."""
        action = self._forward_action()
        config = action.get("ForwardConfig", {}).get("TargetGroups")
        if config:
            pairs = [(g["TargetGroupArn"], g.get("Weight", 1)) for g in config]
        else:
            pairs = [(action["TargetGroupArn"], 1)]
        total = sum(w for _, w in pairs) or 1
        weights = dict.fromkeys(COLORS, 0)
        for arn, weight in pairs:
            if arn not in self._color_of:
                raise LoadBalancerError(
                    f"listener {self.listener} forwards to {arn}, which is neither colour's "
                    "target group", "compare the listener with 'terraform output'")
            weights[self._color_of[arn]] += round(100 * weight / total)
        return weights

    def live_color(self) -> str:
        weights = self.weights()
        live = [c for c, w in weights.items() if w > 0]
        if len(live) != 1:
            raise LoadBalancerError(
                f"listener is split {weights}: a canary is in progress",
                "finish it ('greenswap resume') or send all traffic back ('greenswap rollback')")
        return live[0]

    def target_health(self, color: str) -> dict[str, str]:
        """Target id -> its health state in the colour's target group."""
        out = self._call("describe_target_health", TargetGroupArn=self._group(color))
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in out["TargetHealthDescriptions"]}

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        """Wait until `count` targets of the colour are healthy; fail at the deadline."""
        waited = poll_until(lambda: self.target_health(color),
                            lambda health: sum(s == "healthy" for s in health.values()) >= count,
                            deadline_s, HEALTH_POLL_S)
        if not waited.done:
            raise LoadBalancerError(
                f"{color}'s target group has {waited.last or 'no targets'}, not {count} healthy "
                f"targets, after {deadline_s:.0f}s",
                "check the app on those hosts and the target group's health check path")
        return waited.last

    def responses(self, color: str) -> Answers:
        """What the colour's targets answered since this driver was made, from the
        ALB's CloudWatch metrics (which lag by a minute or so: bake sees errors late)."""
        dims = [{"Name": "LoadBalancer", "Value": self._alb_dimension},
                {"Name": "TargetGroup", "Value": self._group(color).split(":")[-1]}]
        total = self._metric("RequestCount", dims, "Sum")
        errors = self._metric("HTTPCode_Target_5XX_Count", dims, "Sum")
        seconds = self._metric("TargetResponseTime", dims, "Average")
        return Answers(int(total), int(errors), int(seconds * 1000))

    def _metric(self, name: str, dims: list[dict], statistic: str) -> float:
        out = self._call("get_metric_statistics", service=self.cloudwatch,
                         Namespace="AWS/ApplicationELB", MetricName=name, Dimensions=dims,
                         StartTime=self._since, EndTime=datetime.now(UTC), Period=60,
                         Statistics=[statistic])
        values = [p[statistic] for p in out.get("Datapoints", [])]
        if statistic == "Average":
            return sum(values) / len(values) if values else 0.0
        return sum(values)

    def close(self) -> None:
        """Nothing is held open: every call is its own HTTPS request."""

    # -- switching ------------------------------------------------------------------

    def flip(self, color: str, release: bool = False) -> float:
        """All new requests to `color` (`release` is accepted for the LB protocol; an
        ALB holds nothing)."""
        self.shift(color, 100)
        return time.monotonic()

    def shift(self, color: str, percent: int) -> None:
        """`percent` of new requests to `color`, the rest to the other colour."""
        if not 0 <= percent <= 100:
            raise InputError(f"canary step {percent}: must be 0 to 100 percent")
        other = next(c for c in COLORS if c != color)
        wanted = {color: percent, other: 100 - percent}
        groups = [{"TargetGroupArn": self._group(c), "Weight": w} for c, w in wanted.items()]
        self._call("modify_listener", ListenerArn=self.listener, DefaultActions=[{
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": groups,
                              "TargetGroupStickinessConfig": {"Enabled": False}},
        }])
        now = self.weights()
        if now != wanted:
            raise LoadBalancerError(f"listener asked for {wanted} but says {now}",
                                    "look at the listener in the console; fix it by hand "
                                    "or with 'greenswap rollback'")

    # -- plumbing -------------------------------------------------------------------

    def _group(self, color: str) -> str:
        if color not in self.groups:
            raise InputError(f"color: unknown colour {color!r}; expected blue or green")
        return self.groups[color]

    def _forward_action(self) -> dict:
        out = self._call("describe_listeners", ListenerArns=[self.listener])
        actions = out["Listeners"][0]["DefaultActions"]
        # Anything more (an authenticate action in front, say) would be lost when
        # shift() writes the listener's actions: refuse rather than drop it.
        if [a["Type"] for a in actions] != ["forward"]:
            raise LoadBalancerError(
                f"listener {self.listener} has default actions "
                f"{[a['Type'] for a in actions]}, not one forward",
                "greenswap only switches a listener whose one default action forwards")
        return actions[0]

    def _call(self, method: str, service=None, **kwargs):
        try:
            return getattr(service or self.elbv2, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise LoadBalancerError(f"ALB {method} failed: {exc}",
                                    "check credentials and the listener; nothing else was "
                                    "changed by this call") from exc
