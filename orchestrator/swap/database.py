"""The swap of databases (database.mode: swap): green has a database of its own,
built from nothing with the new schema, kept in step with blue through the
transform, proven equal to f(blue), and swapped to with a hold, a fence and a
catch-up (cutover.py). After the flip, reverse replay keeps blue fed through the
inverse, so that a rollback is one more swap that loses nothing.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

import psycopg2

from orchestrator.config import Config
from orchestrator.db.catalog import quote_ident, table_info
from orchestrator.db.connect import connect
from orchestrator.db.lag import LagSample
from orchestrator.db.transform import load as load_transform
from orchestrator.errors import (
    GreenswapError,
    PreflightFailed,
    ReplayError,
    ReplayRefused,
    VerifyFailed,
)
from orchestrator.lb.base import holding
from orchestrator.swap.cutover import CUTOVER, ROLLBACK, Swap, SwapResult, swap
from orchestrator.swap.watchdog import Watchdog

if TYPE_CHECKING:
    from orchestrator.runbook.context import Context

SYNC_PROGRESS_S = 5.0
SAMPLE_S = 1.0  # lag and LB answers recorded for the report while waiting on sync
MIGRATIONS = """
CREATE SCHEMA IF NOT EXISTS greenswap;
CREATE TABLE IF NOT EXISTS greenswap.migrations (
    name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
"""


class DatabaseSwap:
    """The Swapper of a rollout whose colours each have a database."""

    blue_checks = ", replica identity, WAL headroom"
    retires = "stop reverse replay and "

    def plan(self, cfg: Config, lb: str) -> list[str]:
        migrations = ", ".join(p.name for p in cfg.database.migrations) or "none"
        transform = cfg.database.transform.name if cfg.database.transform else "-"
        return [
            f"deploy: {cfg.playbooks['db']} on green's database (rebuilt),"
            f" {cfg.playbooks['app']} with app {cfg.app_version}, {lb}",
            f"schema: migrations on green ({migrations})",
            f"sync: snapshot blue through {transform}, then stream changes",
            "verify: checksums of green against f(blue); verify-scope checks on green"
            " directly; green healthy in the LB's checks",
            f"cutover: wait for lag under {cfg.cutover.lag_threshold_bytes} bytes, hold (at"
            f" most {cfg.cutover.max_pause_ms} ms), fence blue, catch up, sequences, flip,"
            f" release; deadline {cfg.cutover.deadline_ms} ms; then reverse replay",
        ]

    # -- before any traffic moves --------------------------------------------------

    def check_blue(self, ctx: Context) -> None:
        """Every table the transform reads can be replayed, and blue's WAL can hold a slot."""
        assert ctx.cfg.database.transform is not None  # config: swap mode requires one
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
                cur.execute("SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(),"
                            " restart_lsn)::bigint FROM pg_replication_slots")
                cap = ctx.cfg.database.max_slot_wal_mb << 20
                for slot, retained in cur.fetchall():
                    if (retained or 0) > cap // 2:
                        raise PreflightFailed(
                            f"slot {slot} on blue already retains {retained >> 20} MiB of WAL,"
                            f" over half of database.max_slot_wal_mb",
                            "drop the stale slot (pg_drop_replication_slot) or raise the cap")
        finally:
            conn.close()

    def app_database(self, ctx: Context) -> dict[str, str]:
        """Green's database server, built from nothing; the app playbook's pointer to it."""
        if ctx.lb.live_color() == ctx.green:  # never: but this is about to drop a cluster
            raise PreflightFailed(f"green ({ctx.green}) is live at the LB; its database is "
                                  "not rebuilt",
                                  "see 'greenswap status'; the journal and the LB disagree")
        # Built from nothing, also on a reused (static) host: rows left from an earlier
        # life would corrupt the snapshot. The database accepts the environment's own
        # network: the colours' hosts, the LB and the controller, which replays and fences.
        address = ctx.fleet.db_host(ctx.green).address
        ctx.fleet.playbook("db", f"{ctx.green}_db", recreate=True,
                           allowed_cidr=".".join(address.split(".")[:3]) + ".0/24")
        return {"db_group": f"{ctx.green}_db"}

    def migrate(self, ctx: Context) -> None:
        """Green's migrations, each once, as the app's role."""
        conn = connect(ctx.fleet.dsn(ctx.green), "migrations")
        try:
            with conn.cursor() as cur:
                cur.execute(MIGRATIONS)
                conn.commit()
                for path in ctx.cfg.database.migrations:
                    if self._migrate(conn, cur, path.name, path.read_text(),
                                     ctx.cfg.database.app_user):
                        ctx.say(f"migration {path.name} applied")
        finally:
            conn.close()

    def _migrate(self, conn, cur, name: str, text: str, app_user: str) -> bool:
        """One migration, committed with its record, unless it was applied already;
        True if it ran now."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        cur.execute("SELECT sha256 FROM greenswap.migrations WHERE name = %s", (name,))
        row = cur.fetchone()
        if row and row[0] != digest:
            raise PreflightFailed(f"database.migrations: {name} changed after it was applied"
                                  " to green", "add a new migration file")
        if row:
            return False
        try:
            # The app owns what it uses; greenswap's role only applies it.
            cur.execute(f"SET LOCAL ROLE {quote_ident(app_user)}")
            cur.execute(text)
            cur.execute("RESET ROLE")
            cur.execute("INSERT INTO greenswap.migrations (name, sha256) VALUES (%s, %s)",
                        (name, digest))
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            raise PreflightFailed(f"database.migrations: {name} failed on green: "
                                  f"{str(exc).strip().splitlines()[0]}") from None
        return True

    def sync(self, ctx: Context) -> None:
        """Snapshot blue through the transform, then stream its change log until the lag
        is under the cutover's threshold."""
        ctx.sync.start("forward")
        self._wait_synced(ctx)

    def _wait_synced(self, ctx: Context) -> None:
        """A replayer that stopped is an error with its last words."""
        data = ctx.sync
        deadline = time.monotonic() + ctx.cfg.database.sync_timeout_s
        last_said = last_sample = 0.0
        while True:
            if not data.running("forward"):
                raise ReplayError(f"the forward replayer stopped: {data.failure('forward')}",
                                  "fix the cause, then 'greenswap resume'")
            lag = data.lag("forward") if data.position("forward") is not None else None
            if time.monotonic() - last_sample >= SAMPLE_S:
                last_sample = time.monotonic()
                ctx.sample("sync", "forward", lag)
            if lag is not None and lag.bytes <= ctx.cfg.cutover.lag_threshold_bytes:
                ctx.remember(sync_lag_bytes=lag.bytes)
                return
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"sync did not catch up within {ctx.cfg.database.sync_timeout_s}s",
                    "raise database.sync_timeout_s, or check the replayer's log")
            if time.monotonic() - last_said > SYNC_PROGRESS_S:
                last_said = time.monotonic()
                ctx.say("sync: " + (f"lag {lag.bytes} bytes" if lag else "snapshot in progress"))
            time.sleep(0.2)

    def verify(self, ctx: Context) -> None:
        """Green == f(blue), every key and column."""
        keys, mismatches = ctx.sync.verify("forward")
        ctx.remember(verified_keys=keys)
        if mismatches:
            first = ", ".join(f"{m.table}{list(m.key)}" for m in mismatches[:5])
            ctx.record("verify", "mismatch", f"{len(mismatches)} mismatching keys: {first}",
                       keys=[[m.table, list(m.key)] for m in mismatches[:1000]])
            raise VerifyFailed(f"{len(mismatches)} key(s) differ between green and f(blue):"
                               f" {first}")

    # -- the swap --------------------------------------------------------------------

    def finish_interrupted(self, ctx: Context) -> bool:
        """A crash after the flip leaves only the tail: done here, True."""
        if ctx.lb.live_color() != ctx.green:
            return False
        self._finish_flipped(ctx, CUTOVER)
        return True

    def prepare(self, ctx: Context) -> None:
        """Before a (re)try: blue serving and writable, no half-made reverse stream, the
        forward stream running (a crash mid-cutover may have left any of these)."""
        self.put_blue_back(ctx)
        ctx.sync.drop("reverse")
        ctx.sync.start("forward")
        self._wait_synced(ctx)

    def move(self, ctx: Context) -> SwapResult:
        return self._swap(ctx, CUTOVER)

    def move_back(self, ctx: Context) -> SwapResult | None:
        if ctx.lb.live_color() == ctx.blue:
            self._finish_flipped(ctx, ROLLBACK)
            return None
        return self._swap(ctx, ROLLBACK)

    def put_blue_back(self, ctx: Context) -> None:
        """Blue serving and writable, nothing held: how a swap cut short before its
        flip must leave the LB and blue's database."""
        ctx.sync.unfence("blue")
        holding(ctx.lb).release()

    def green_took_traffic(self, ctx: Context) -> bool:
        return ctx.lb.live_color() == ctx.green

    def _swap(self, ctx: Context, plan: Swap) -> SwapResult:
        """One swap with a watchdog, armed just before the hold: if this process dies
        mid-swap, the watchdog puts the old colour back (unfenced, released) once the
        pause bound has passed."""
        dogs: list[Watchdog] = []
        steps: dict[str, float] = {}
        try:
            result = swap(plan, holding(ctx.lb), ctx.sync, ctx.cfg.cutover,
                          arm=lambda: dogs.append(Watchdog.start(ctx, plan)),
                          labels={"blue": ctx.blue, "green": ctx.green})
            steps = result.steps
            return result
        except BaseException as exc:
            steps = getattr(exc, "steps", {})
            raise
        finally:
            for dog in dogs:
                dog.stop()
            # Written after the pause, not in it: each journal write waits for the disk.
            for name, ms in steps.items():
                ctx.record("cutover", "step", name, ms=ms)

    def _finish_flipped(self, ctx: Context, plan: Swap) -> None:
        """The LB already points at the new colour (a crash came after the flip): flip
        again, which also persists the map file and releases, and start what feeds the
        old colour."""
        ctx.lb.flip(ctx.facts[plan.new], release=True)
        if plan.next_stream:
            if "cutover_at" not in ctx.facts:
                ctx.remember(cutover_at=time.time())
            ctx.sync.start(plan.next_stream)

    # -- after the swap: blue kept fed, then retired ------------------------------------

    def keep_blue_fed(self, ctx: Context) -> None:
        """Between cutover and retire, the reverse replayer must run (it may have died
        with the machine): a rollback catches up from it."""
        if ctx.done("cutover") and not ctx.done("retire") and ctx.lb.live_color() == ctx.green:
            ctx.sync.start("reverse")

    def watch_feed(self, ctx: Context, restarts: int) -> int:
        """Blue must stay fed for a rollback: a reverse replayer found stopped is started
        again, once. Found stopped again right after (a row g raises on, say), a rollback
        could no longer catch blue up: the bake stops with the replayer's last words,
        green stays live, and nothing is torn down. Returns the restarts in a row."""
        if ctx.sync.running("reverse"):
            return 0
        why = ctx.sync.failure("reverse")
        if restarts >= 1:
            raise ReplayError(f"reverse replay keeps stopping, so blue is no longer fed: {why}",
                              "green stays live; fix the cause, then 'greenswap resume'")
        ctx.record("bake", "restart", f"reverse replayer was not running ({why}); restarted")
        ctx.sync.start("reverse")
        return restarts + 1

    def feed_lag(self, ctx: Context) -> LagSample | None:
        """For the report only: a database that does not answer now is bake's business."""
        try:
            return ctx.sync.lag("reverse")
        except (GreenswapError, psycopg2.Error):
            return None

    def retire(self, ctx: Context) -> None:
        ctx.sync.drop("reverse")
