"""`greenswap lab ...`: the embedded lab of namespace hosts."""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict

import click
from rich.table import Table

from orchestrator.cli.output import emit_json, err, out, say
from orchestrator.errors import GreenswapError, LabError
from orchestrator.lab.demo import DemoSummary, rollout_under_load
from orchestrator.lab.environment import LabEnvironment
from orchestrator.lab.lab import Lab, LabStatus
from orchestrator.lab.packages import APP, BASE
from orchestrator.lab.settings import LabSettings

name_option = click.option(
    "--name", default="gs", envvar="GREENSWAP_LAB", show_default=True,
    help="Lab name; several labs can run side by side.",
)
subnet_option = click.option(
    "--subnet", default=None, envvar="GREENSWAP_LAB_SUBNET",
    help="IPv4 subnet inside 198.18.0.0/15 (default 198.18.0.0/24 for a new lab).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def open_lab(name: str, subnet: str | None = None) -> Lab:
    return Lab(LabSettings.resolve(name, subnet), say=say)


@click.group()
def lab() -> None:
    """The embedded lab: real hosts in network namespaces on this machine."""


@lab.command()
@name_option
@subnet_option
@json_option
def up(name: str, subnet: str | None, as_json: bool) -> None:
    """Create the lab (2 blue app hosts, 1 blue db host, 1 lb host), or repair it."""
    the_lab = open_lab(name, subnet)
    started = time.monotonic()
    changes = the_lab.up()
    elapsed = time.monotonic() - started
    if as_json:
        emit_json({"lab": name, "changed": changes, "seconds": round(elapsed, 2)})
        return
    if changes:
        say(f"lab {name} is up after {elapsed:.1f}s: {', '.join(changes)}")
    else:
        say(f"lab {name} was already up; nothing changed")
    show_status(the_lab.status(), name)


@lab.command()
@name_option
@json_option
def status(name: str, as_json: bool) -> None:
    """Show the lab's hosts and services. Exit 1 if anything is down."""
    st = open_lab(name).status()
    if as_json:
        emit_json(status_data(st, name))
    else:
        show_status(st, name)
    healthy = st.exists and st.bridge_up and st.repo_serving and all(h.running for h in st.hosts)
    raise SystemExit(0 if healthy else 1)


@lab.command()
@name_option
def down(name: str) -> None:
    """Remove every host, link, process and file the lab created."""
    removed = open_lab(name).down()
    say(f"lab {name} removed: {', '.join(removed)}" if removed else f"no lab {name}; nothing to do")


@lab.command()
@click.argument("role")
@click.option("--count", default=1, show_default=True, type=int)
@click.option("--color", default=None,
              help="blue or green (default green); the lb role has none.")
@name_option
@json_option
def add(role: str, count: int, color: str, name: str, as_json: bool) -> None:
    """Create hosts of ROLE (app, db or lb) in a running lab."""
    if color is None and role != "lb":
        color = "green"
    made = open_lab(name).create_hosts(role, count, None if color == "none" else color)
    if as_json:
        emit_json([asdict(r) for r in made])
    else:
        say(f"created {', '.join(f'{r.name} ({r.address})' for r in made)}")


@lab.command()
@click.argument("hosts", nargs=-1, required=True)
@name_option
def remove(hosts: tuple[str, ...], name: str) -> None:
    """Destroy the named hosts."""
    open_lab(name).destroy_hosts(hosts)
    say(f"removed {', '.join(hosts)}")


@lab.command("env")
@name_option
def env_cmd(name: str) -> None:
    """Print the lab's database passwords as shell exports, for a rollout by hand:
    eval "$(greenswap lab env)". They exist only for this lab, and go nowhere else."""
    the_lab = open_lab(name)
    if not the_lab.status().exists:
        raise LabError(f"lab {name} is not up", "run 'greenswap lab up' first")
    for variable, value in LabEnvironment(the_lab).secrets().items():
        if not variable.endswith("_SCRAM"):
            click.echo(f"export {variable}={shlex.quote(value)}")


def status_data(st: LabStatus, name: str) -> dict:
    return {
        "lab": name, "exists": st.exists, "bridge_up": st.bridge_up,
        "repo_serving": st.repo_serving,
        "hosts": [
            {"name": h.record.name, "role": h.record.role, "color": h.record.color,
             "address": h.record.address, "running": h.running}
            for h in st.hosts
        ],
    }


def show_status(st: LabStatus, name: str) -> None:
    if not st.exists:
        out.print(f"no lab {name} (run 'greenswap lab up')")
        return
    table = Table(title=f"lab {name}")
    for col in ("host", "role", "color", "address", "state"):
        table.add_column(col)
    for h in st.hosts:
        state = "[green]running[/]" if h.running else "[red]down[/]"
        table.add_row(h.record.name, h.record.role, h.record.color or "-", h.record.address, state)
    out.print(table)
    repo = "serving" if st.repo_serving else "[red]down[/]"
    out.print(f"bridge: {'up' if st.bridge_up else '[red]down[/]'}   apt repository: {repo}")


@lab.command()
@name_option
@subnet_option
@click.option("--rollout/--no-rollout", default=True, show_default=True,
              help="Then roll out app v2 (schema change included) under load.")
@json_option
def demo(name: str, subnet: str | None, rollout: bool, as_json: bool) -> None:
    """Fresh lab, blue on app v1 behind HAProxy, a system update on one host, then a
    whole v1 -> v2 rollout under load with its summary and report. Exit 1 unless
    the rollout succeeded with no failed request, stale read or lost write."""
    started = time.monotonic()
    tables = err if as_json else out  # with --json, stdout carries only the JSON
    the_lab = open_lab(name, subnet)
    if the_lab.status().exists:
        say(f"starting from a fresh lab: removing lab {name}")
        the_lab.down()
        the_lab = open_lab(name, subnet)
    the_lab.up()
    env = LabEnvironment(the_lab, say=say)
    env.deploy("blue", "1.0")
    lb_host = next(r for r in the_lab.records() if r.role == "lb")
    served = env.get_json(f"http://{lb_host.address}/health")
    say(f"the LB at {lb_host.address} serves app {served['version']} from {served['host']}")
    target = next(r.name for r in the_lab.records() if r.role == "app")
    result = env.patch(target)
    facts = result.facts.get(target, {})
    say(f"patched {target}: upgraded={facts.get('greenswap_upgraded')} "
        f"reboot required={facts.get('greenswap_reboot_required')}")
    tables.print(fleet_table(env, the_lab.records()))
    summary = rollout_under_load(env, say) if rollout else None
    if summary is not None:
        tables.print(summary.table())
        tables.print(fleet_table(env, the_lab.records()))
    seconds = time.monotonic() - started
    if as_json:
        emit_json({"lab": name, "seconds": round(seconds, 1),
                   "rollout": asdict(summary) if summary else None})
    elif summary is not None:
        show_follow_up(summary)
    say(f"demo finished in {seconds:.1f}s; the lab stays up ('greenswap lab down' removes it)")
    if summary is not None and summary.problems():
        raise GreenswapError(f"demo: {'; '.join(summary.problems())}"
                             + (f": {summary.failure}" if summary.failure else ""),
                             f"read the report {summary.report}" if summary.report
                             else "see the messages above")


def show_follow_up(summary: DemoSummary) -> None:
    if summary.report:
        out.print(f"report: {summary.report}")
    if summary.commands:
        out.print("read this rollout again:")
        for command in summary.commands:
            out.print(f"  {command}", soft_wrap=True)


def fleet_table(env: LabEnvironment, records: list) -> Table:
    lb = env.lb()
    try:
        live = lb.live_color()
    finally:
        lb.close()
    table = Table(title=f"fleet ({BASE} is the system update, {APP} the app)")
    for col in ("host", "role", "color", "address", "system update", "app", "LB"):
        table.add_column(col, no_wrap=True)
    for rec in records:
        versions = env.package_versions(rec.name)
        serving = "live" if rec.color == live and rec.role == "app" else ""
        if rec.role == "lb":
            serving = f"→ be_{live}"
        table.add_row(rec.name, rec.role, rec.color or "-", rec.address,
                      versions[BASE], versions[APP], serving)
    return table
