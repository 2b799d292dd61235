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

from orchestrator.swap.canary import SharedDatabase
from orchestrator.swap.database import DatabaseSwap
from orchestrator.swap.parts import Parts, Swapper


def for_config(parts: Parts) -> Swapper:
    """The swapper of the config's database.mode, the only place that asks."""
    return SharedDatabase(parts) if parts.cfg.database.shared else DatabaseSwap(parts)
