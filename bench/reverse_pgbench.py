"""Benchmark: reverse replay under pgbench, checked by verify (issue 15's acceptance).

Each run: blue and green clusters with examples/pgbench (pgbench's tables to a v2
schema in cents); a snapshot copies blue to green; the cutover's data steps (forward
dropped, the renamed sequence carried over, reverse anchored); then a 4-client
pgbench on green for --seconds while `greenswap replay run --direction reverse`
carries every transaction back to blue through g; then the replayer reaches green's
end and verify checks blue == g(green). Printed per run: transactions, lag (bytes
behind and seconds since the last applied commit, sampled every 200 ms: p50, p99,
max), catch-up time after the load, verify time and mismatches.

Run as root (the clusters run as the postgres user), from the repository root:

    .venv/bin/python bench/reverse_pgbench.py [--runs 5] [--seconds 60] [--scale 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.db import lag  # noqa: E402
from orchestrator.db.pgoutput import lsn_int  # noqa: E402
from orchestrator.db.replayer import Replay  # noqa: E402
from orchestrator.db.transform import load  # noqa: E402
from orchestrator.db.verify import verify  # noqa: E402
from tests.pg import PG_BIN, Cluster  # noqa: E402

EXAMPLE = ROOT / "examples" / "pgbench"
DEADLINE_S = 600  # every wait here is bounded


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def one_run(seconds: int, scale: int) -> dict:
    transform = load(EXAMPLE / "transform.py")
    blue, green = Cluster("bench-blue"), Cluster("bench-green")
    try:
        blue.start()
        green.start()
        blue.sql((EXAMPLE / "schema_v1.sql").read_text())
        blue.sql((EXAMPLE / "seed.sql").read_text().replace(":scale", str(scale)))
        green.sql((EXAMPLE / "schema_v2.sql").read_text())
        forward = Replay(blue.dsn(), green.dsn(), transform, "gs_bench_f")
        try:
            forward.start()
            forward.sync_sequences()
            forward.drop()
        finally:
            forward.close()
        reverse = Replay(green.dsn(), blue.dsn(), transform, "gs_bench_r", "reverse")
        try:
            reverse.start()
        finally:
            reverse.close()
        replayer = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "replay", "run", "--source", green.dsn(),
             "--target", blue.dsn(), "--transform", str(EXAMPLE / "transform.py"),
             "--direction", "reverse", "--stream", "gs_bench_r"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples: list[lag.LagSample] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(lag.sample(green.dsn(), blue.dsn(), "gs_bench_r"))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            out = subprocess.run(
                [str(PG_BIN / "pgbench"), "-n", "-c", "4", "-j", "2", "-T", str(seconds),
                 "-D", f"scale={scale}", "-f", str(EXAMPLE / "green.pgbench"), "-h",
                 "127.0.0.1", "-p", str(green.port), "-U", "postgres", "postgres"],
                capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
            loaded = time.monotonic()
            end = lsn_int(green.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])
            while lag.sample(green.dsn(), blue.dsn(), "gs_bench_r").applied_lsn < end:
                if time.monotonic() - loaded > DEADLINE_S:
                    raise TimeoutError("reverse replay did not catch up")
                time.sleep(0.05)
            caught_up = time.monotonic() - loaded
        finally:
            stop.set()
            sampler.join(timeout=30)
            replayer.terminate()
            replayer.wait(timeout=60)
        result = verify(blue.dsn(), green.dsn(), transform, "reverse")
        txns = next(ln for ln in out.splitlines() if "actually processed" in ln)
        behind = [s.seconds for s in samples]
        return {"transactions": int(txns.split(":")[1].split("/")[0]),
                "lag_s": (statistics.median(behind), pct(behind, 0.99), max(behind)),
                "max_bytes": max(s.bytes for s in samples), "catch_up_s": caught_up,
                "verify_s": result.seconds, "rows": result.keys, "mismatches": result.count}
    finally:
        blue.destroy()
        green.destroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--scale", type=int, default=10)
    a = parser.parse_args()
    for n in range(1, a.runs + 1):
        r = one_run(a.seconds, a.scale)
        p50, p99, worst = r["lag_s"]
        print(f"run {n}: {r['transactions']:,} transactions in {a.seconds}s on green; lag p50"
              f" {p50:.2f}s, p99 {p99:.2f}s, max {worst:.2f}s, {r['max_bytes']:,} bytes at most;"
              f" caught up {r['catch_up_s']:.2f}s after the load; verify reverse"
              f" {r['rows']:,} rows in {r['verify_s']:.1f}s: {r['mismatches']} mismatches",
              flush=True)


if __name__ == "__main__":
    main()
