"""Benchmark: the pause at cutover and at rollback, and rollout time against fleet size.

Everything runs in a lab of its own (198.18.60.0/24), made and removed here, with
the sample app v1 -> v2. Printed as ratios against baselines measured in the same
run (see docs/PERFORMANCE.md for results):

  (a) pause: one rollout, then --rounds times a rollback and a cutover again (a
      fresh forward sync in between), all under a bounded load through the LB of
      --rate HTTP requests/s (half writes, half read-backs). Per swap: the pause
      from hold to release. Baseline: a bare hold + release on the same LB.
      Goal: p50 <= 300 ms, max <= 1 s, 0 failed requests.
  (b) scale: the wall time of a whole rollout (preflight to retire) with 4 hosts
      (2 app, db, lb) against 12 (10 app, db, lb). Goal: 12 hosts <= 1.5x 4.

Run as root from the repository root:

    .venv/bin/python bench/cutover.py [--rounds 10] [--rate 300] [--skip-scale] [--skip-pause]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import config  # noqa: E402
from orchestrator.lab.demo import demo_config  # noqa: E402
from orchestrator.lab.environment import LabEnvironment  # noqa: E402
from orchestrator.lab.lab import Lab  # noqa: E402
from orchestrator.lab.loadgen import LoadApart  # noqa: E402
from orchestrator.lab.settings import LabSettings  # noqa: E402
from orchestrator.lb.base import holding  # noqa: E402
from orchestrator.runbook import live, rollout  # noqa: E402
from orchestrator.runbook.fleet import Fleet, open_provider  # noqa: E402
from orchestrator.swap.cutover import SwapResult  # noqa: E402

SUBNET = "198.18.60.0/24"


def lab_with_blue(root: Path, app_hosts: int) -> LabEnvironment:
    settings = LabSettings.parse("gsb", SUBNET, state_root=root / "labs",
                                 inventory_dir=root / "inv")
    the_lab = Lab(settings)
    try:
        the_lab.up((("app", app_hosts, "blue"), ("db", 1, "blue"), ("lb", 1, None)))
        env = LabEnvironment(the_lab)
        env.deploy("blue", "1.0")
    except BaseException:  # a failed (or interrupted) set-up leaves no host behind
        the_lab.down()
        raise
    os.environ.update(env.secrets())
    return env


def bench_config(env: LabEnvironment, root: Path, app_hosts: int, **changes) -> config.Config:
    cfg = demo_config(env)
    hosts = dataclasses.replace(cfg.provider, green_hosts={"app": app_hosts, "db": 1})
    return dataclasses.replace(cfg, environment="bench", state_dir=root / "state",
                               provider=hosts, **changes)


def baseline_ms(cfg: config.Config, rounds: int = 20) -> float:
    """A bare hold + release through the same LB driver the swap uses."""
    lb = holding(Fleet(cfg, open_provider(cfg)).lb())
    times = []
    try:
        for _ in range(rounds):
            began = time.monotonic()
            lb.hold()
            lb.release()
            times.append((time.monotonic() - began) * 1000)
    finally:
        lb.close()
    return statistics.median(times)


def pause_bench(root: Path, rounds: int, rate: float) -> None:
    env = lab_with_blue(root, 2)
    try:
        cfg = bench_config(env, root, 2, bake=config.Bake(duration_s=0),
                           retire=config.Retire(keep_blue_s=3600.0))
        base = baseline_ms(cfg)
        lb_addr = next(r.address for r in env.lab.records() if r.role == "lb")
        load = LoadApart(f"http://{lb_addr}", rate=rate / 2, workers=16, max_requests=10**6,
                         max_seconds=3600, guard=lambda _u: env.check_route()).start()
        # Each swap's pause and steps; the first rollout's cutover has its pause
        # in its facts, and no steps here.
        swaps: dict[str, list[tuple[float, dict[str, float]]]] = {"cutover": [], "rollback": []}
        try:
            try:
                ctx = rollout.rollout(cfg, lambda _m: None)
            except rollout.PhaseFailed as failed:
                print(f"first rollout failed; its swap's steps:"
                      f" {getattr(failed.cause, 'steps', {})}")
                raise
            swaps["cutover"].append((ctx.facts["cutover_pause_ms"], {}))
            with rollout._active(cfg, lambda _m: None, False, "bench") as ctx:
                for n in range(rounds):
                    back = held(live.rollback(ctx, f"bench round {n + 1}"))  # as the CLI's
                    ctx.swapper.sync()  # a fresh snapshot into green
                    over = held(ctx.swapper.move())
                    swaps["rollback"].append(back)
                    swaps["cutover"].append(over)
                    print(f"round {n + 1}: rollback {back[0]:.0f} ms,"
                          f" cutover {over[0]:.0f} ms", flush=True)
                ctx.sync.drop("reverse")  # its replayer would outlive the lab
        finally:
            result = load.stop()
        lost = load.lost()
        seconds = time.monotonic() - load._began
        http = result.requests * 2
        print(f"(a) load: {http:,} HTTP requests in {seconds:.0f}s ({http / seconds:.0f}/s);"
              f" failed {result.failures}, stale reads {result.stale_reads},"
              f" lost writes {len(lost)} of {len(result.writes):,}; write + read back"
              f" p50 {result.percentile_ms(0.5):.0f} ms, p99 {result.percentile_ms(0.99):.0f} ms")
        for error in result.errors[:5]:
            print(f"    {error}")
        if result.failures:  # what HAProxy saw of them (see haproxy.cfg.j2's ring)
            lb = env.lb()
            for line in lb.command("show events greenswap-errors").splitlines()[-20:]:
                print(f"    haproxy: {line}")
            lb.close()
        for name, runs in swaps.items():
            pauses = [pause for pause, _steps in runs]
            p50 = statistics.median(pauses)
            print(f"(a) {name} pause over {len(pauses)}: p50 {p50:.0f} ms"
                  f" ({p50 / base:.1f}x the bare hold+release of {base:.0f} ms),"
                  f" max {max(pauses):.0f} ms (goal p50 <= 300, max <= 1000)")
            timed = [(pause, steps) for pause, steps in runs if steps]
            print_steps(name, [steps for _pause, steps in timed])
            if timed:  # the slowest swap's own steps: what a max is made of
                pause, steps = max(timed, key=lambda swap: swap[0])
                print(f"    slowest {name} ({pause:.0f} ms), steps in ms: "
                      + ", ".join(f"{step} {ms:.0f}" for step, ms in steps.items()))
    finally:
        env.lab.down()


def held(swap: SwapResult | None) -> tuple[float, dict[str, float]]:
    """A finished swap's pause and steps: a database swap always holds."""
    assert swap is not None and swap.pause_ms is not None, swap
    return swap.pause_ms, swap.steps


def print_steps(name: str, runs: list[dict[str, float]]) -> None:
    """p50 of each step of the swaps, in the swap's order: where a pause goes."""
    if not runs:
        return
    order = list(dict.fromkeys(step for run in runs for step in run))
    parts = [f"{step} {statistics.median(run.get(step, 0.0) for run in runs):.0f}"
             for step in order]
    print(f"    {name} steps, p50 ms: " + ", ".join(parts))


def cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat: every
    lab host runs on this machine's cores, so this is the rollout's whole CPU bill."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def scale_bench(root: Path) -> None:
    times, cpu = {}, {}
    for hosts, app in ((4, 2), (12, 10)):
        sub = root / f"scale{hosts}"
        env = lab_with_blue(sub, app)
        try:
            cfg = bench_config(env, sub, app, bake=config.Bake(duration_s=0),
                               retire=config.Retire(keep_blue_s=0.0))
            began, (busy_before, total_before) = time.monotonic(), cpu_seconds()
            ctx = rollout.rollout(cfg, lambda _m: None)
            times[hosts] = time.monotonic() - began
            busy_after, total_after = cpu_seconds()
            busy, total = busy_after - busy_before, total_after - total_before
            cpu[hosts] = busy
            phases = ", ".join(f"{e.phase} {e.data['seconds']:.1f}"
                               for e in ctx.journal.events(ctx.rollout_id) if e.kind == "done")
            print(f"(b) rollout with {hosts} hosts: {times[hosts]:.1f}s ({phases}); CPU busy"
                  f" {busy:.0f} core-s, {busy / total:.0%} of {os.cpu_count()} cores",
                  flush=True)
        finally:
            env.lab.down()
    print(f"(b) 12 hosts / 4 hosts: {times[12] / times[4]:.2f}x (goal <= 1.5x);"
          f" CPU work {cpu[12] / cpu[4]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=300.0, help="HTTP requests/s")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-pause", action="store_true")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        if not a.skip_pause:
            pause_bench(Path(tmp), a.rounds, a.rate)
        if not a.skip_scale:
            scale_bench(Path(tmp))


if __name__ == "__main__":
    main()
