"""What a rollout would do, in order, as lines: `greenswap plan` prints them, and
`rollout` shows them before it asks. Pure: the config in, text out."""

from __future__ import annotations

from orchestrator.config import Config


def plan_steps(cfg: Config) -> list[str]:
    counts = ", ".join(f"{n} {role}" for role, n in cfg.green_hosts.items())
    source = ("from the inventory's released pool" if cfg.provider == "static"
              else f"created by the {cfg.provider} provider")
    lb = (f"{cfg.playbooks['lb']} to add green to the LB" if cfg.lb_kind == "haproxy"
          else "green's Auto Scaling group joins its target group")
    steps = [
        "preflight: check config, secrets, blue's health checks"
        + ("" if cfg.database.shared else ", replica identity, WAL headroom"),
        f"provision: green hosts ({counts}) {source}",
        f"patch: {cfg.playbooks['patch']} on green (OS updates)",
    ]
    if cfg.database.shared:
        return steps + _shared_steps(cfg, lb)
    migrations = ", ".join(p.name for p in cfg.database.migrations) or "none"
    transform = cfg.database.transform.name if cfg.database.transform else "-"
    return steps + [
        f"deploy: {cfg.playbooks['db']} on green's database (rebuilt), {cfg.playbooks['app']}"
        f" with app {cfg.app_version}, {lb}",
        f"schema: migrations on green ({migrations})",
        f"sync: snapshot blue through {transform}, then stream changes",
        "verify: checksums of green against f(blue); verify-scope checks on green directly;"
        " green healthy in the LB's checks",
        f"cutover: wait for lag under {cfg.cutover.lag_threshold_bytes} bytes, hold (at most"
        f" {cfg.cutover.max_pause_ms} ms), fence blue, catch up, sequences, flip, release;"
        f" deadline {cfg.cutover.deadline_ms} ms; then reverse replay",
        _bake(cfg),
        f"retire: after {cfg.keep_blue_s:.0f}s, stop reverse replay and destroy blue's hosts",
    ]


def _shared_steps(cfg: Config, lb: str) -> list[str]:
    steps = cfg.cutover.canary_steps
    move = ("flip all requests to green" if steps == (100,) else
            "canary " + " -> ".join(f"{p}%" for p in steps) + f", green's bake checks for"
            f" {cfg.cutover.canary_interval_s:.0f}s between steps; a failure sends every"
            " request back to blue")
    return [
        f"deploy: {cfg.playbooks['app']} with app {cfg.app_version} against the shared"
        f" database {cfg.database.host}, {lb}",
        "schema: none (shared database: a rollout does not change it)",
        "sync: none (shared database)",
        "verify: verify-scope checks on green directly; green healthy in the LB's checks",
        f"cutover: {move}",
        _bake(cfg),
        f"retire: after {cfg.keep_blue_s:.0f}s, destroy blue's hosts",
    ]


def _bake(cfg: Config) -> str:
    return (f"bake: {cfg.bake.duration_s:.0f}s of checks and LB error rate; rollback on"
            f" {cfg.bake.failures} failed rounds")
