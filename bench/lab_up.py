"""Benchmark: `lab up` of the default 4 hosts with a cached image, and `lab down`.

Printed as absolute seconds and as a ratio against a baseline measured in the same
run on the same machine: the bare kernel cost of 4 hosts' namespaces (ip netns add,
unshare of mount+PID+UTS running `true`, ip netns del). Run as root:

    .venv/bin/python bench/lab_up.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from orchestrator.lab.lab import Lab
from orchestrator.lab.settings import LabSettings

HOSTS = 4


def bare_namespaces() -> float:
    start = time.perf_counter()
    for i in range(HOSTS):
        ns = f"gsbench-{i}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "unshare", "--mount", "--pid",
                        "--uts", "--fork", "true"], check=True)
        subprocess.run(["ip", "netns", "del", ns], check=True)
    return time.perf_counter() - start


def lab_cycle(root: Path) -> tuple[float, float]:
    lab = Lab(LabSettings.parse("gsb", "198.18.110.0/24", state_root=root / "labs",
                                inventory_dir=root / "inv"))
    start = time.perf_counter()
    try:
        lab.up()
    except BaseException:
        lab.down()  # never leave namespaces behind under a temp state dir
        raise
    up = time.perf_counter() - start
    start = time.perf_counter()
    lab.down()
    return up, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 11))
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        lab_cycle(Path(tmp))  # warm: the image is built or found here, not timed
        base = [bare_namespaces() for _ in range(rounds)]
        ups, downs = zip(*(lab_cycle(Path(tmp)) for _ in range(rounds)), strict=True)
    b, u, d = statistics.median(base), statistics.median(ups), statistics.median(downs)
    print(f"baseline  bare namespaces x{HOSTS}: {b:.3f}s")
    print(f"lab up    {HOSTS} hosts, cached image: {u:.3f}s  ({u / b:.1f}x baseline)")
    print(f"lab down  {HOSTS} hosts:               {d:.3f}s  ({d / b:.1f}x baseline)")


if __name__ == "__main__":
    main()
