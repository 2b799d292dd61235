"""The benchmarks still run (tiny sizes; the figures themselves are not judged here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_replay_bench_runs_end_to_end():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "replay.py"), "--rows", "2000", "--changes",
         "1500", "--rate", "200", "--live-seconds", "2", "--runs", "1", "--pgbench-txns",
         "400"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("(a) backlog", "(b) snapshot", "(c) live", "(e) pgbench backlog"):
        for f in ("sql", "python"):
            assert f"{label} ratio, f in {f}" in proc.stdout or \
                f"{label} lag p99 ms, greenswap, f in {f}" in proc.stdout, proc.stdout
