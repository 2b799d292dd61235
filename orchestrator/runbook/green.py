"""Before any traffic moves: check blue, build green, patch it, deploy it, and give
its database the new schema. Every phase here can run again: it converges."""

from __future__ import annotations

import hashlib

import psycopg2

from orchestrator.db.catalog import quote_ident, table_info
from orchestrator.db.connect import connect
from orchestrator.db.transform import load as load_transform
from orchestrator.errors import PreflightFailed, ReplayRefused
from orchestrator.runbook.context import Context, phase

OTHER = {"blue": "green", "green": "blue"}


@phase("preflight")
def preflight(ctx: Context) -> None:
    """config, connectivity, blue healthy, replica identity, slot/WAL headroom"""
    cfg = ctx.cfg
    for variable in cfg.database.secret_variables:
        cfg.secret(variable)
    if "blue" not in ctx.facts:
        live = ctx.lb.live_color()
        ctx.remember(blue=live, green=OTHER[live])
    failures = ctx.check("preflight", ctx.blue)
    if failures:
        raise PreflightFailed(f"blue ({ctx.blue}) is not healthy: {failures[0]}")
    if not ctx.cfg.database.shared:  # a shared database is neither synced nor changed
        _check_blue_database(ctx)


def _check_blue_database(ctx: Context) -> None:
    transform = load_transform(ctx.cfg.database.transform)
    conn = connect(ctx.fleet.dsn(ctx.blue), "preflight")
    try:
        with conn.cursor() as cur:
            for table in transform.tables:
                info = table_info(cur, table)
                if info is None:
                    raise PreflightFailed(f"database.transform: blue has no table {table}")
                if info.replica_identity == "n" or (
                        info.replica_identity == "d" and not info.primary_key):
                    raise ReplayRefused(
                        f"blue table {table} has no primary key or replica identity",
                        f"add a primary key, or ALTER TABLE {table} REPLICA IDENTITY FULL")
            cur.execute("SHOW wal_level")
            if cur.fetchone()[0] != "logical":
                raise PreflightFailed("blue's wal_level is not logical",
                                      "set wal_level = logical and restart blue's database")
            cur.execute("SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)"
                        "::bigint FROM pg_replication_slots")
            cap = ctx.cfg.database.max_slot_wal_mb << 20
            for slot, retained in cur.fetchall():
                if (retained or 0) > cap // 2:
                    raise PreflightFailed(
                        f"slot {slot} on blue already retains {retained >> 20} MiB of WAL,"
                        f" over half of database.max_slot_wal_mb",
                        "drop the stale slot (pg_drop_replication_slot) or raise the cap")
    finally:
        conn.close()


@phase("provision")
def provision(ctx: Context) -> None:
    """green's app hosts and database host"""
    aws = ctx.cfg.aws
    if ctx.cfg.provider == "aws" and aws.bake_from:
        _bake_image(ctx, aws.bake_from)
    for role, count in ctx.cfg.green_hosts.items():
        have = ctx.fleet.hosts(ctx.green, role)
        if len(have) < count:
            ctx.say(f"creating {count - len(have)} green {role} host(s)")
            ctx.fleet.provider.create_hosts(role, count - len(have), ctx.green)
    ctx.remember(green_hosts=sorted(h.name for r in ctx.cfg.green_hosts
                                    for h in ctx.fleet.hosts(ctx.green, r)))


def _bake_image(ctx: Context, base_image: str) -> None:
    """Green's image, once per rollout: the base image with the patch playbook applied,
    so that every green instance (and any the group replaces later) starts patched."""
    if "image_id" not in ctx.facts:
        def patch(hosts) -> None:
            ctx.fleet.playbook("patch", hosts[0].name, limit=hosts[0].name)

        name = f"{ctx.cfg.environment}-{ctx.rollout_id}-{ctx.green}"
        ctx.remember(image_id=ctx.fleet.provider.bake_image(base_image, patch, name))
        ctx.record("provision", "image", f"baked {ctx.facts['image_id']} from {base_image}")
    ctx.fleet.provider.image_id = ctx.facts["image_id"]


@phase("patch")
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


@phase("deploy")
def deploy(ctx: Context) -> None:
    """the database server, the new app version, and green's servers in the LB"""
    fleet, green = ctx.fleet, ctx.green
    if ctx.cfg.database.shared:
        database = {"db_host": ctx.cfg.database.host}
    else:
        _rebuild_green_database(ctx)
        database = {"db_group": f"{green}_db"}
    fleet.playbook("app", f"{green}_app", app_version=ctx.cfg.app_version,
                   app_port=ctx.cfg.app_port, restart_throttle=0,  # green serves nobody yet
                   **database)
    refresh_lb(ctx)  # green's servers into be_<green>; the live map entry is untouched


def _rebuild_green_database(ctx: Context) -> None:
    if ctx.lb.live_color() == ctx.green:  # never: but this is about to drop a cluster
        raise PreflightFailed(f"green ({ctx.green}) is live at the LB; its database is not "
                              "rebuilt", "see 'greenswap status'; the journal and the LB disagree")
    # A green database is built from nothing, also on a reused (static) host: rows
    # left from an earlier life would corrupt the snapshot.
    ctx.fleet.playbook("db", f"{ctx.green}_db", allowed_cidr=_allowed_cidr(ctx), recreate=True)


def refresh_lb(ctx: Context) -> None:
    """Render the LB's config from the hosts there are now (seamless reload). An ALB
    needs nothing: its target groups follow the colours' Auto Scaling groups."""
    if ctx.cfg.lb_kind != "haproxy":
        return
    # The hold's bound is longer than the swap may pause, plus the watchdog's grace:
    # if greenswap dies mid-swap, held requests go only after blue is unfenced.
    ctx.fleet.playbook("lb", "lb", app_port=ctx.cfg.app_port,
                       hold_max_ms=ctx.cfg.cutover.max_pause_ms + 1000)


def _allowed_cidr(ctx: Context) -> str:
    # The database accepts the environment's own network: the colours' hosts, the LB
    # and the controller, which replays and fences.
    address = ctx.fleet.db_host(ctx.green).address
    return ".".join(address.split(".")[:3]) + ".0/24"


MIGRATIONS = """
CREATE SCHEMA IF NOT EXISTS greenswap;
CREATE TABLE IF NOT EXISTS greenswap.migrations (
    name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
"""


@phase("schema")
def schema(ctx: Context) -> None:
    """green's migrations, each once, as the app's role"""
    if ctx.cfg.database.shared:
        ctx.record("schema", "skip", "shared database: its schema is not changed by a rollout")
        return
    conn = connect(ctx.fleet.dsn(ctx.green), "migrations")
    try:
        with conn.cursor() as cur:
            cur.execute(MIGRATIONS)
            conn.commit()
            for path in ctx.cfg.database.migrations:
                text = path.read_text()
                digest = hashlib.sha256(text.encode()).hexdigest()
                cur.execute("SELECT sha256 FROM greenswap.migrations WHERE name = %s",
                            (path.name,))
                row = cur.fetchone()
                if row and row[0] != digest:
                    raise PreflightFailed(f"database.migrations: {path.name} changed after it"
                                          " was applied to green", "add a new migration file")
                if row:
                    continue
                try:
                    # The app owns what it uses; greenswap's role only applies it.
                    cur.execute(f"SET LOCAL ROLE {quote_ident(ctx.cfg.database.app_user)}")
                    cur.execute(text)
                    cur.execute("RESET ROLE")
                    cur.execute("INSERT INTO greenswap.migrations (name, sha256) VALUES (%s, %s)",
                                (path.name, digest))
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise PreflightFailed(f"database.migrations: {path.name} failed on green: "
                                          f"{str(exc).strip().splitlines()[0]}") from None
                ctx.say(f"migration {path.name} applied")
    finally:
        conn.close()
