"""A made-up but complete rollout, as the journal would hold it, for report tests."""

from __future__ import annotations

from orchestrator.rollouts import Event, Rollout
from orchestrator.runbook.context import PHASES

T0 = 1_790_000_000.0
HOSTILE = "</script><script>document.title='pwned'</script>"


def sample_rollout() -> tuple[Rollout, list[Event]]:
    facts = {"app_version": "2.0", "started_by": "ops@bastion pid 42", "reason": HOSTILE,
             "blue": "blue", "green": "green", "green_hosts": ["green-app-1", "green-db-1"],
             "cutover_at": T0 + 70, "cutover_pause_ms": 212.5,
             "cutover_steps": {"hold": 11.0, "fence": 30.2, "catch up": 4.1,
                               "flip and release": 12.3},
             "patched": {"green-app-1": ["greenswap-lab-base 1.0 -> 1.1"], "green-db-1": []}}
    events, t = [], T0
    for name in PHASES[:-1]:
        events.append(Event(1, t, name, "start", f"{name} started", {}))
        t += 8
        events.append(Event(1, t, name, "done", f"{name} done", {"seconds": 8}))
    events.append(Event(1, t, "retire", "start", "retire started", {}))
    events.append(Event(1, t + 1, "retire", "wait", "blue is kept", {}))
    for i in range(30):  # sync samples, then bake samples after the cutover at +70 s
        at = T0 + 40 + i * 2
        events.append(Event(1, at, "sync" if at < T0 + 70 else "bake", "sample", "",
                            {"direction": "forward" if at < T0 + 70 else "reverse",
                             "lag_bytes": 4096 * (30 - i), "lag_s": 0.1,
                             "blue": [100 * i if at < T0 + 70 else 1500, 0, 20],
                             "green": [0 if at < T0 + 70 else 100 * (i - 15), 0, 25]}))
    events.append(Event(1, T0 + 50, "verify", "checks", "1/2 verify checks passed on green",
                        {"color": "green", "checks": ["app health", "rows"],
                         "failures": [f"rows: {HOSTILE}"]}))
    events.sort(key=lambda e: e.at)
    return Rollout(1, "prod", T0, None, "baked", "retire", facts), events
