"""HAProxy through its runtime API, reached over SSH on the LB host.

The live backend is the `active` key of greenswap-backend.map, which the frontend
reads on every request: `set map` flips it atomically, with no reload. Runtime
changes live only in memory, so each one is also written to the map file on disk,
where a reload or restart reads it back.
"""

from __future__ import annotations

import shlex

from orchestrator.errors import LoadBalancerError
from orchestrator.lb.base import BACKENDS, backend_for
from orchestrator.remote.base import Shell

SOCKET = "/run/haproxy/admin.sock"
BACKEND_MAP = "/etc/haproxy/greenswap-backend.map"
FLAGS_MAP = "/etc/haproxy/greenswap-flags.map"


class HAProxyLB:
    def __init__(self, shell: Shell, socket: str = SOCKET) -> None:
        self.shell = shell
        self.socket = socket

    def command(self, line: str) -> str:
        """One runtime API command; its answer, or LoadBalancerError."""
        cmd = (
            f"test -S {self.socket} && "
            f"printf '%s\\n' {shlex.quote(line)} | socat -t 2 stdio UNIX-CONNECT:{self.socket}"
        )
        result = self.shell.run(cmd, timeout=10)
        if not result.ok:
            raise LoadBalancerError(
                f"HAProxy on {self.shell.name} did not take '{line}' "
                f"(exit {result.rc}): {result.stderr.strip() or 'no admin socket at ' + self.socket}"
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

    def flip(self, color: str) -> None:
        self._set(BACKEND_MAP, "active", backend_for(color))

    def hold(self) -> None:
        self._set(FLAGS_MAP, "hold", "on")

    def release(self) -> None:
        self._set(FLAGS_MAP, "hold", "off")

    def _set(self, map_file: str, key: str, value: str) -> None:
        self.command(f"set map {map_file} {key} {value}")
        if self.map_value(map_file, key) != value:
            raise LoadBalancerError(f"HAProxy on {self.shell.name} did not keep {key}={value}")
        self._persist(map_file, key, value)

    def _persist(self, map_file: str, key: str, value: str) -> None:
        script = (
            f"f={map_file}; tmp=$f.tmp; "
            f"grep -v '^{key} ' $f > $tmp || true; echo '{key} {value}' >> $tmp; mv $tmp $f"
        )
        result = self.shell.run(script, timeout=10)
        if not result.ok:
            raise LoadBalancerError(
                f"HAProxy on {self.shell.name} switched {key} to {value} in memory, but "
                f"{map_file} could not be written: {result.stderr.strip()}",
                "fix the file by hand before the next reload, or the change will revert",
            )
