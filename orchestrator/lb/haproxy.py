"""HAProxy through its runtime API, reached over SSH on the LB host.

The live backend is the `active` key of greenswap-backend.map, which the frontend
reads on every request: `set map` flips it atomically, with no reload. Runtime
changes live only in memory, so a flip is also written to the map file on disk,
where a reload or restart reads it back. The hold flag is deliberately not.
"""

from __future__ import annotations

import time

from orchestrator.errors import LoadBalancerError
from orchestrator.lb.base import BACKENDS, Answers, backend_for
from orchestrator.lb.haproxy_api import AdminAPI, AdminSession
from orchestrator.remote.base import Shell
from orchestrator.remote.ssh import ShellSession, SSHShell
from orchestrator.retry import poll_until

BACKEND_MAP = "/etc/haproxy/greenswap-backend.map"
FLAGS_MAP = "/etc/haproxy/greenswap-flags.map"
REFUSALS = ("unknown", "error", "'set map' expects", "entry not found")


class HAProxyLB:
    def __init__(self, api: AdminAPI, shell: Shell) -> None:
        self.api = api  # the runtime API: every read and change
        self.shell = shell  # the LB host's files: a flip written to disk
        self.name = api.name

    @classmethod
    def over_ssh(cls, ssh: SSHShell) -> HAProxyLB:
        """Both kept open on one SSH connection: a swap's calls cost a round trip each."""
        return cls(AdminSession.over_ssh(ssh), ShellSession(ssh))

    def command(self, line: str) -> str:
        """One runtime API command; its answer, or LoadBalancerError."""
        return self._checked(line, self.api.ask([line])[0])

    def _checked(self, line: str, answer: str) -> str:
        answer = answer.strip()
        if answer.lower().startswith(REFUSALS):
            raise LoadBalancerError(f"HAProxy on {self.name} refused '{line}': {answer}")
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
            raise LoadBalancerError(f"HAProxy on {self.name} routes to unknown {backend!r}")
        return colors[backend]

    def stat_rows(self, color: str) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The colour's backend row of `show stat` and its servers' rows, by field name."""
        backend = backend_for(color)
        lines = self.command(f"show stat {backend} 6 -1").splitlines()  # 2 | 4
        if not lines or not lines[0].startswith("# "):
            raise LoadBalancerError(f"HAProxy on {self.name}: no stats for {backend}")
        names = lines[0][2:].split(",")
        rows = [dict(zip(names, ln.split(","), strict=False)) for ln in lines[1:] if ln]
        rows = [r for r in rows if r.get("pxname") == backend]
        totals = [r for r in rows if r.get("svname") == "BACKEND"]
        if not totals:
            raise LoadBalancerError(f"HAProxy on {self.name} has no backend {backend}")
        return totals[0], [r for r in rows if r.get("svname") not in ("BACKEND", "FRONTEND")]

    def backend_stats(self, color: str) -> dict[str, str]:
        return self.stat_rows(color)[0]

    def wait_healthy(self, color: str, count: int, deadline_s: float) -> dict[str, str]:
        """Wait until `count` servers of the colour's backend pass HAProxy's own health
        checks; server -> status. Fails at the deadline."""
        waited = poll_until(
            lambda: {r["svname"]: r.get("status", "") for r in self.stat_rows(color)[1]},
            lambda status: sum(_serving(s) for s in status.values()) >= count,
            deadline_s, 0.5)
        if not waited.done:
            raise LoadBalancerError(
                f"{backend_for(color)} has {waited.last or 'no servers'}, not {count} healthy,"
                f" after {deadline_s:.0f}s", "check the app on those hosts (its /health)")
        return waited.last

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
        self.api.close()
        self.shell.close()

    def responses(self, color: str) -> Answers:
        row = self.backend_stats(color)
        codes = [int(row.get(f"hrsp_{c}") or 0) for c in ("1xx", "2xx", "3xx", "4xx", "5xx",
                                                          "other")]
        # rtime: HAProxy's average response time over the backend's last 1024 requests.
        return Answers(sum(codes), codes[4], int(row.get("rtime") or 0))

    def flip(self, color: str, release: bool = False) -> float:
        changes = [(BACKEND_MAP, "active", backend_for(color))]
        if release:  # after the flip, in the same batch: held requests go to color
            changes.append((FLAGS_MAP, "hold", "off"))
        flipped_at = self._set(changes)
        self._persist(BACKEND_MAP, "active", backend_for(color))
        return flipped_at

    # The hold flag lives in memory only: if greenswap dies mid-cutover, a reload or
    # restart of HAProxy reads "hold off" from disk instead of holding forever.
    def hold(self) -> None:
        self._set([(FLAGS_MAP, "hold", "on")])

    def release(self) -> None:
        self._set([(FLAGS_MAP, "hold", "off")])

    def _set(self, changes: list[tuple[str, str, str]]) -> float:
        """Set map entries in memory, in order, and read them back, in one batch;
        the time HAProxy was seen to have them."""
        sets = [f"set map {m} {k} {v}" for m, k, v in changes]
        maps = list(dict.fromkeys(m for m, _k, _v in changes))
        answers = self.api.ask(sets + [f"show map {m}" for m in maps])
        done_at = time.monotonic()
        for line, answer in zip(sets, answers[:len(sets)], strict=True):
            self._checked(line, answer)
        shown = dict(zip(maps, answers[len(sets):], strict=True))
        for map_file, key, value in changes:
            self._checked(f"show map {map_file}", shown[map_file])
            kept = [r[2] for r in map(str.split, shown[map_file].splitlines())
                    if len(r) == 3 and r[1] == key]
            if kept != [value]:
                raise LoadBalancerError(
                    f"HAProxy on {self.name} did not keep {key}={value} (it has {kept})",
                    f"check {map_file} on the LB host; the file on disk may not match memory",
                )
        return done_at

    def _persist(self, map_file: str, key: str, value: str) -> None:
        """Write a change HAProxy already has in memory to its map file, for the next
        reload or restart: after, never before, so the file never leads memory."""
        result = self.shell.run(f"{{ grep -v '^{key} ' {map_file}; echo '{key} {value}'; }}"
                                f" > {map_file}.tmp && mv {map_file}.tmp {map_file}", timeout=10)
        if not result.ok:
            raise LoadBalancerError(
                f"HAProxy on {self.name} now has {key}={value} in memory, but {map_file}"
                f" could not be written: {(result.stderr or result.stdout).strip()}",
                "traffic HAS moved; fix the file by hand before any reload, or it reverts",
            )


def _serving(status: str) -> bool:
    """HAProxy's server status: UP, UP 1/2 (going down), or no check at all."""
    return status.startswith("UP") or status == "no check"
