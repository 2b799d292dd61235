"""Which decoded transactions a snapshot can see.

Logical decoding hands over a transaction as soon as its commit record is flushed,
but other sessions see its effects only once its backend has left the proc array:
briefly always, and for a whole synchronous-standby round trip when
`synchronous_standby_names` is set. Replay that reads "current" rows on the source
(reverse replay building g's input, forward replay's unchanged TOAST values) must
read under a snapshot that sees every transaction it is replaying, or it reads the
state from before them and stores a position past changes it never wrote.

The log names transactions by their 32-bit xid (pgoutput's Begin); a snapshot
(`pg_current_snapshot()`) speaks in 64-bit xids. Visibility is decided as
`pg_visible_in_snapshot` does: below xmin, finished; at or above xmax, not yet; in
between, finished unless listed as running. A committed transaction that has
finished is visible.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP = 1 << 32


@dataclass(frozen=True)
class Snapshot:
    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """pg_snapshot's text form: 'xmin:xmax:xip,xip,...'."""
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def full(self, xid: int) -> int:
        """The 64-bit xid of a 32-bit one. PostgreSQL keeps every live xid within 2^31
        of the next one (wraparound protection), so the nearest to xmax is the one."""
        delta = (xid - self.xmax) % WRAP
        if delta >= WRAP // 2:
            delta -= WRAP
        return self.xmax + delta

    def sees(self, xid: int) -> bool:
        full = self.full(xid)
        if full < self.xmin:
            return True
        return full < self.xmax and full not in self.running
