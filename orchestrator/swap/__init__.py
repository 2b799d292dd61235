"""The swap: how a rollout moves its data and its traffic between the colours.

One interface, Swapper, with two implementations chosen once per rollout from
database.mode (`for_config`, the only place that asks):

- DatabaseSwap (database.py): each colour has its own database. Green's is built,
  migrated, kept in step through the transform and proven equal to f(blue); the
  cutover holds requests, fences blue, catches up, moves the sequences, unfences
  green and flips (cutover.py), then reverse replay keeps blue fed for a rollback.
  A watchdog process undoes a swap whose CLI died (watchdog.py).
- SharedDatabase (canary.py): both colours use one database. Nothing to sync or
  fence; the LB alone moves traffic, at once or in canary steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from orchestrator.config import Config
from orchestrator.db.lag import LagSample
from orchestrator.swap.cutover import SwapResult

if TYPE_CHECKING:
    from orchestrator.runbook.context import Context


class Swapper(Protocol):
    """What the runbook's phases ask of the data and the traffic, in phase order."""

    def check_blue(self, ctx: Context) -> None:
        """preflight: blue's database can be followed (keys, WAL level, slot room)."""

    def app_database(self, ctx: Context) -> str:
        """deploy: green's database, ready; its address, for the app's deploy playbook."""
        ...

    def migrate(self, ctx: Context) -> None:
        """schema: green's database gets the new schema."""

    def sync(self, ctx: Context) -> None:
        """sync: green kept in step with blue, lag under the cutover's threshold."""

    def verify(self, ctx: Context) -> None:
        """verify: green's data is f(blue)'s."""

    def finish_interrupted(self, ctx: Context) -> bool:
        """cutover, first: put right what a crash mid-swap left; True if the swap
        had already happened and is now finished."""
        ...

    def prepare(self, ctx: Context) -> None:
        """cutover: everything as before any swap, ready to start (or start again)."""

    def move(self, ctx: Context) -> SwapResult:
        """cutover: the traffic (and the writes) from blue to green."""
        ...

    def move_back(self, ctx: Context) -> SwapResult | None:
        """rollback: the traffic back to blue, losing nothing; None if nothing paused."""
        ...

    def put_blue_back(self, ctx: Context) -> None:
        """abort: blue serving and writable, nothing held."""

    def green_took_traffic(self, ctx: Context) -> bool:
        """abort: has green served (then only a rollback may end the rollout)?"""
        ...

    def keep_blue_fed(self, ctx: Context) -> None:
        """resume and rollback: after the cutover, blue keeps receiving green's writes."""

    def watch_feed(self, ctx: Context, restarts: int) -> int:
        """bake: blue is still fed; returns the feed's restarts in a row."""
        ...

    def feed_lag(self, ctx: Context) -> LagSample | None:
        """bake: how far blue's feed is behind, for the report; None if unknown."""
        ...

    def retire(self, ctx: Context) -> None:
        """retire: stop feeding blue."""


def for_config(cfg: Config) -> Swapper:
    from orchestrator.swap.canary import SharedDatabase
    from orchestrator.swap.database import DatabaseSwap

    return SharedDatabase() if cfg.database.shared else DatabaseSwap()
