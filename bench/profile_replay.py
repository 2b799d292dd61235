"""Where replay's time goes: cProfile of one snapshot and one backlog of the sample
app (or, --app pgbench, of the pgbench example: hot rows), f in SQL or in Python,
on clusters of this machine. Prints the functions
with the most time of their own, and the wall and CPU time of each server
process next to the replayer's, which says whose cores the time was spent on.

    .venv/bin/python bench/profile_replay.py [--f sql] [--rows 300000] [--changes 100000]
                                             [--cpu-only] [--app pgbench]

--cpu-only: no profiler, only the wall and CPU split (the profiler slows the
replayer, which shifts the split).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.replay import (  # noqa: E402
    APP,
    MIXED,
    PGBENCH,
    PGBENCH_TRANSFORMS,
    TRANSFORMS,
    insert_lsn,
    pgbench,
    pgbench_seed,
    seed,
)
from orchestrator.db.replayer import Replay  # noqa: E402
from orchestrator.db.transform import load  # noqa: E402
from tests.pg import Cluster  # noqa: E402


def server_cpu_s(cluster: Cluster) -> float:
    """CPU seconds used so far by the cluster's processes (postmaster's children)."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for child in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime (fields 14-17), in clock ticks
        total += sum(int(x) for x in fields[11:15]) / 100
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def profiled(what: str, run, blue: Cluster, green: Cluster, enabled: bool = True) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    before = (server_cpu_s(blue), server_cpu_s(green))
    profile = cProfile.Profile()
    start = time.monotonic()
    if enabled:
        profile.enable()
    run()
    profile.disable()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    mine = (after.ru_utime - own.ru_utime) + (after.ru_stime - own.ru_stime)
    print(f"== {what}: wall {wall:.2f}s; CPU: replayer {mine:.2f}s, blue's server"
          f" {server_cpu_s(blue) - before[0]:.2f}s, green's server"
          f" {server_cpu_s(green) - before[1]:.2f}s (finished backends not counted)")
    if not enabled:
        return
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(14)
    print("\n".join(out.getvalue().splitlines()[5:]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--f", default="sql", choices=sorted(TRANSFORMS))
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--app", default="sample", choices=["sample", "pgbench"])
    a = parser.parse_args()
    hot = a.app == "pgbench"
    app, transform = (PGBENCH, PGBENCH_TRANSFORMS[a.f]) if hot else (APP, TRANSFORMS[a.f])
    blue, green = Cluster("prof-blue", {"max_connections": "100"}), Cluster("prof-green")
    try:
        for c in (blue, green):
            c.start()
        blue.sql((app / "schema_v1.sql").read_text())
        green.sql((app / "schema_v2.sql").read_text())
        if a.f == "mirror":  # its target: blue's shape (bench/mirror_transform.py)
            green.sql("CREATE SCHEMA mirror; SET search_path TO mirror; "
                      + (app / "schema_v1.sql").read_text())
        if hot:
            pgbench_seed(blue, 1)
        else:
            seed(blue, a.rows)
        replay = Replay(blue.dsn(), green.dsn(), load(transform), "gs_prof")
        profiled(f"snapshot of {a.app}, f in {a.f}", replay.start, blue, green,
                 not a.cpu_only)
        if hot:  # about 4 changes a transaction
            pgbench(blue, (PGBENCH / "blue.pgbench").read_text(),
                    ["-c", "4", "-j", "2", "-t", str(max(1, a.changes // 16)), "-D", "scale=1"])
        else:
            maxid = blue.sql("SELECT max(id) FROM accounts")[0][0]
            pgbench(blue, MIXED, ["-c", "2", "-j", "2", "-t", str(max(1, a.changes // 6)),
                                  "-D", f"maxid={maxid}"])
        end = insert_lsn(blue)
        profiled(f"backlog of ~{a.changes:,} changes, f in {a.f}",
                 lambda: replay.stream_changes(threading.Event(), until_lsn=end), blue, green,
                 not a.cpu_only)
        replay.drop()
        replay.close()
    finally:
        for c in (blue, green):
            c.destroy()


if __name__ == "__main__":
    main()
