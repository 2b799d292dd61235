"""What a rollout would do, in order, as lines: `greenswap plan` prints them, and
`rollout` shows them before it asks. Pure: the config in, text out."""

from __future__ import annotations

from orchestrator.config import Config
from orchestrator.swap import for_config as swap_for


def plan_steps(cfg: Config) -> list[str]:
    counts = ", ".join(f"{n} {role}" for role, n in cfg.green_hosts.items())
    source = ("from the inventory's released pool" if cfg.provider == "static"
              else f"created by the {cfg.provider} provider")
    lb = (f"{cfg.playbooks['lb']} to add green to the LB" if cfg.lb_kind == "haproxy"
          else "green's Auto Scaling group joins its target group")
    swapper = swap_for(cfg)
    return [
        "preflight: check config, secrets, blue's health checks" + swapper.blue_checks,
        f"provision: green hosts ({counts}) {source}",
        f"patch: {cfg.playbooks['patch']} on green (OS updates)",
        *swapper.plan(cfg, lb),
        f"bake: {cfg.bake.duration_s:.0f}s of checks and LB error rate; rollback on"
        f" {cfg.bake.failures} failed rounds",
        f"retire: after {cfg.keep_blue_s:.0f}s, {swapper.retires}destroy blue's hosts",
    ]
