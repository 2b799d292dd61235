"""Before any traffic moves: check blue, build green, patch it, deploy it, and give
its database the new schema. Every phase here can run again: it converges."""

from __future__ import annotations

from orchestrator.errors import PreflightFailed
from orchestrator.providers.base import ImageBaker
from orchestrator.rollouts import Phase
from orchestrator.runbook.context import Context, phase

OTHER = {"blue": "green", "green": "blue"}


@phase(Phase.PREFLIGHT)
def preflight(ctx: Context) -> None:
    """config, connectivity, blue healthy, replica identity, slot/WAL headroom"""
    if "blue" not in ctx.facts:
        live = ctx.lb.live_color()
        ctx.remember(blue=live, green=OTHER[live])
    failures = ctx.check("preflight", ctx.blue)
    if failures:
        raise PreflightFailed(f"blue ({ctx.blue}) is not healthy: {failures[0]}")
    ctx.swapper.check_blue()


@phase(Phase.PROVISION)
def provision(ctx: Context) -> None:
    """green's app hosts and database host"""
    provider = ctx.fleet.provider
    if isinstance(provider, ImageBaker) and provider.base_image:  # provider.bake_from
        _bake_image(ctx, provider, provider.base_image)
    for role, count in ctx.cfg.provider.green_hosts.items():
        have = ctx.fleet.hosts(ctx.green, role)
        if len(have) < count:
            ctx.say(f"creating {count - len(have)} green {role} host(s)")
            ctx.fleet.provider.create_hosts(role, count - len(have), ctx.green)
    ctx.remember(green_hosts=sorted(h.name for r in ctx.cfg.provider.green_hosts
                                    for h in ctx.fleet.hosts(ctx.green, r)))


def _bake_image(ctx: Context, baker: ImageBaker, base_image: str) -> None:
    """Green's image, once per rollout: the base image with the patch playbook applied,
    so that every green instance (and any the group replaces later) starts patched."""
    if "image_id" not in ctx.facts:
        def patch(hosts) -> None:
            ctx.fleet.playbook("patch", hosts[0].name, limit=hosts[0].name)

        name = f"{ctx.cfg.environment}-{ctx.rollout_id}-{ctx.green}"
        ctx.remember(image_id=baker.bake_image(base_image, patch, name))
        ctx.record("provision", "image", f"baked {ctx.facts['image_id']} from {base_image}")
    baker.image_id = ctx.facts["image_id"]


@phase(Phase.PATCH)
def patch(ctx: Context) -> None:
    """OS updates on every green host"""
    result = ctx.fleet.playbook("patch", ctx.green)
    # What each host got, for the journal and the report: "name old -> new".
    upgrades = {host: list(facts.get("greenswap_upgrades") or [])
                for host, facts in sorted(result.facts.items())}
    ctx.remember(patched=upgrades)
    for host, changes in upgrades.items():
        ctx.record("patch", "host", f"{host}: {len(changes)} package(s) updated",
                   host=host, upgrades=changes)


@phase(Phase.DEPLOY)
def deploy(ctx: Context) -> None:
    """the database server, the new app version, and green's servers in the LB"""
    db_host = ctx.swapper.app_database()
    ctx.fleet.playbook("app", f"{ctx.green}_app", **ctx.cfg.deploy_inputs(db_host),
                       restart_throttle=0)  # green serves nobody yet: all hosts at once
    refresh_lb(ctx)  # green's servers into be_<green>; the live map entry is untouched


def refresh_lb(ctx: Context) -> None:
    """Render the LB's config from the hosts there are now (seamless reload). An ALB
    needs nothing: its target groups follow the colours' Auto Scaling groups."""
    if ctx.cfg.lb.kind != "haproxy":
        return
    # The hold's bound is longer than the swap may pause, plus the watchdog's grace:
    # if greenswap dies mid-swap, held requests go only after blue is unfenced.
    ctx.fleet.playbook("lb", "lb", app_port=ctx.cfg.app.port,
                       health_path=ctx.cfg.app.health_path,
                       hold_max_ms=ctx.cfg.cutover.max_pause_ms + 1000)


@phase(Phase.SCHEMA)
def schema(ctx: Context) -> None:
    """green's migrations, each once, as the app's role"""
    ctx.swapper.migrate()
