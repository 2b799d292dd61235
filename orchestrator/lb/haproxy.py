"""HAProxy through its runtime API, reached over SSH on the LB host.

The live backend is the `active` key of greenswap-backend.map, which the frontend
reads on every request: `set map` flips it atomically, with no reload. Runtime
changes live only in memory, so a flip is also written to the map file on disk,
where a reload or restart reads it back. The hold flag is deliberately not.
"""

from __future__ import annotations

import shlex
import time

from orchestrator.errors import LoadBalancerError
from orchestrator.lb.base import BACKENDS, Answers, backend_for
from orchestrator.remote.base import CommandResult, Shell

SOCKET = "/run/haproxy/admin.sock"
BACKEND_MAP = "/etc/haproxy/greenswap-backend.map"
FLAGS_MAP = "/etc/haproxy/greenswap-flags.map"
NOT_PERSISTED = "GREENSWAP-NOT-PERSISTED"


class HAProxyLB:
    def __init__(self, shell: Shell, socket: str = SOCKET) -> None:
        self.shell = shell
        self.socket = socket

    def command(self, line: str) -> str:
        """Runtime API command(s), `;`-separated; the answer, or LoadBalancerError."""
        result = self.shell.run(self._api(line), timeout=10)
        return self._checked(line, result)

    def _api(self, line: str) -> str:
        return (f"test -S {self.socket} && printf '%s\\n' {shlex.quote(line)}"
                f" | socat -t 2 stdio UNIX-CONNECT:{self.socket}")

    def _checked(self, line: str, result: CommandResult) -> str:
        if not result.ok:
            detail = result.stderr.strip() or f"no admin socket at {self.socket}"
            raise LoadBalancerError(
                f"HAProxy on {self.shell.name} did not take '{line}' (exit {result.rc}): {detail}"
            )
        answer = result.stdout.strip()
        if answer.lower().startswith(("unknown", "error", "'set map' expects")):
            raise LoadBalancerError(f"HAProxy on {self.shell.name} refused '{line}': {answer}")
        return answer

    def map_value(self, map_file: str, key: str) -> str | None:
        for line in self.command(f"show map {map_file}").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == key:
                return parts[2]
        return None

    def live_color(self) -> str:
        backend = self.map_value(BACKEND_MAP, "active") or "be_blue"
        colors = {v: k for k, v in BACKENDS.items()}
        if backend not in colors:
            raise LoadBalancerError(f"HAProxy on {self.shell.name} routes to unknown {backend!r}")
        return colors[backend]

    def stat_rows(self, color: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The colour's backend row of `show stat` and its servers' rows, by field name."""
        backend = backend_for(color)
        lines = self.command(f"show stat {backend} 6 -1").splitlines()  # 2 | 4
        if not lines or not lines[0].startswith("# "):
            raise LoadBalancerError(f"HAProxy on {self.shell.name}: no stats for {backend}")
        names = lines[0][2:].split(",")
        rows = [dict(zip(names, ln.split(","), strict=False)) for ln in lines[1:] if ln]
        rows = [r for r in rows if r.get("pxname") == backend]
        totals = [r for r in rows if r.get("svname") == "BACKEND"]
        if not totals:
            raise LoadBalancerError(f"HAProxy on {self.shell.name} has no backend {backend}")
        return totals[0], [r for r in rows if r.get("svname") not in ("BACKEND", "FRONTEND")]

    def backend_stats(self, color: str) -> dict[str, str]:
        return self.stat_rows(color)[0]

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        """Wait until `count` servers of the colour's backend pass HAProxy's own health
        checks; server -> status. Fails at the deadline."""
        end = time.monotonic() + deadline_s
        while True:
            status = {r["svname"]: r.get("status", "") for r in self.stat_rows(color)[1]}
            if sum(_serving(s) for s in status.values()) >= count:
                return status
            if time.monotonic() > end:
                raise LoadBalancerError(
                    f"{backend_for(color)} has {status or 'no servers'}, not {count} healthy,"
                    f" after {deadline_s:.0f}s", "check the app on those hosts (its /health)")
            time.sleep(0.5)

    def inflight(self, color: str) -> int:
        """Requests being served or queued on the colour's servers that HAProxy's checks
        say are up. A server the checks took down (a host cut off, say) would hold a
        swap's drain until it gave up, and it is the reason for a rollback: its requests
        are not waited for. Data stays safe without the wait: the fence ends whatever
        session such a request still has, so nothing it did commits unseen."""
        backend, servers = self.stat_rows(color)
        live = sum(int(r.get("scur") or 0) + int(r.get("qcur") or 0)
                   for r in servers if _serving(r.get("status", "")))
        return live + int(backend.get("qcur") or 0)  # waiting for any server

    def close(self) -> None:
        self.shell.close()

    def responses(self, color: str) -> Answers:
        row = self.backend_stats(color)
        codes = [int(row.get(f"hrsp_{c}") or 0) for c in ("1xx", "2xx", "3xx", "4xx", "5xx",
                                                          "other")]
        # rtime: HAProxy's average response time over the backend's last 1024 requests.
        return Answers(sum(codes), codes[4], int(row.get("rtime") or 0))

    def flip(self, color: str, release: bool = False) -> None:
        changes = [(BACKEND_MAP, "active", backend_for(color), True)]
        if release:  # after the flip, in the same API session: held requests go to color
            changes.append((FLAGS_MAP, "hold", "off", False))
        self._set(changes)

    # The hold flag lives in memory only: if greenswap dies mid-cutover, a reload or
    # restart of HAProxy reads "hold off" from disk instead of holding forever.
    def hold(self) -> None:
        self._set([(FLAGS_MAP, "hold", "on", False)])

    def release(self) -> None:
        self._set([(FLAGS_MAP, "hold", "off", False)])

    def _set(self, changes: list[tuple[str, str, str, bool]]) -> None:
        """Set map entries in memory (in order), read them back, and persist those
        marked so to disk: one SSH round trip, because a swap's pause is the sum of
        these."""
        maps = list(dict.fromkeys(m for m, _k, _v, _p in changes))
        line = "; ".join([f"set map {m} {k} {v}" for m, k, v, _p in changes]
                         + [f"show map {m}" for m in maps])
        script = self._api(line)
        persisted = [(m, k, v) for m, k, v, p in changes if p]
        if persisted:
            # Only once memory shows the values; a failed write is reported, not hidden.
            shown = " && ".join(f"echo \"$out\" | grep -q ' {k} {v}$'" for _m, k, v in persisted)
            writes = " && ".join(
                f"{{ grep -v '^{k} ' {m}; echo '{k} {v}'; }} > {m}.tmp && mv {m}.tmp {m}"
                for m, k, v in persisted)
            script = (f"out=$({script}) || exit $?; echo \"$out\"; "
                      f"if {shown}; then {{ {writes}; }} >&2 || echo {NOT_PERSISTED}; fi")
        result = self.shell.run(script, timeout=10)
        answer = self._checked(line, result)
        if NOT_PERSISTED in answer:
            raise LoadBalancerError(
                f"HAProxy on {self.shell.name} now has {persisted} in memory, but the map"
                f" file could not be written: {result.stderr.strip()}",
                "traffic HAS moved; fix the file by hand before any reload, or it reverts",
            )
        rows = [ln.split() for ln in answer.splitlines()]
        for map_file, key, value, _p in changes:
            kept = [r[2] for r in rows if len(r) == 3 and r[1] == key]
            if kept != [value]:
                raise LoadBalancerError(
                    f"HAProxy on {self.shell.name} did not keep {key}={value} (it has {kept})",
                    f"check {map_file} on the LB host; the file on disk may not match memory",
                )


def _serving(status: str) -> bool:
    """HAProxy's server status: UP, UP 1/2 (going down), or no check at all."""
    return status.startswith("UP") or status == "no check"
