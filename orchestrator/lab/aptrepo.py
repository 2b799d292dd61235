"""The lab's apt repository: the hosts' only mirror, served on the lab bridge.

A flat repository indexed by Debian's own tools (dpkg-scanpackages for Packages,
apt-ftparchive for Release), served over HTTP by a small server process bound to
the bridge address only. Publishing a newer version of a package is how the lab
ships a "system update".
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from orchestrator.errors import LabError
from orchestrator.fsutil import write_atomic
from orchestrator.lab.local import run
from orchestrator.lab.packages import DebSpec, build_deb, copy_into
from orchestrator.processes import is_ours, stop_pid, wait_for_port


def sources_line(url: str) -> str:
    # Unsigned flat repository on the lab's private bridge; see docs/lab.md.
    return f"deb [trusted=yes] {url} ./\n"


def publish(repo: Path, specs: list[DebSpec]) -> None:
    """Build what is missing, add it to the pool and re-index the repository."""
    debs = [build_deb(spec, repo / "build") for spec in specs]
    copy_into(debs, repo / "pool")
    reindex(repo)


def reindex(repo: Path) -> None:
    packages = run(["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"], timeout=60,
                   cwd=str(repo)).stdout
    # Hosts may be fetching while this runs: every index file is swapped in whole.
    write_atomic(repo / "Packages", packages)
    write_atomic(repo / "Packages.gz", gzip.compress(packages.encode(), mtime=0))
    release = run(["apt-ftparchive", "release", "."], cwd=str(repo)).stdout
    write_atomic(repo / "Release", release)


def serve(repo: Path, address: str, port: int, log: Path, deadline_s: float = 5.0) -> int:
    """Start the HTTP server for the repository; return its PID once it answers."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", address,
             "--directory", str(repo), "--protocol", "HTTP/1.1"],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    if not wait_for_port(address, port, deadline_s, alive=lambda: proc.poll() is None):
        stop_pid(proc.pid, str(repo))
        raise LabError(f"the apt repository server did not listen on {address}:{port}; see {log}")
    return proc.pid


def server_running(repo: Path, pid: int | None) -> bool:
    return pid is not None and pid > 0 and is_ours(pid, str(repo))
