"""One rollout as a self-contained HTML page, read from its journal afterwards.

The page carries its data as JSON and draws its own charts (a few lines of inline
script, no network): the phase timeline, lag over time, and what the LB answered
around the cutover. Everything comes from the journal, which never holds a secret;
the page escapes every journaled text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestrator.db.mismatch import SIDES
from orchestrator.fsutil import write_atomic
from orchestrator.rollouts import PHASES, Event, Rollout

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"


@dataclass(frozen=True)
class PhaseSpan:
    name: str
    start: float  # seconds since the rollout started
    end: float | None
    state: str  # done | fail | running | wait


def write(path: Path, rollout: Rollout, events: list[Event]) -> None:
    """The page, whole or not at all; 0600: it shows hosts, addresses and who ran what."""
    write_atomic(path, render(rollout, events), 0o600)


def render(rollout: Rollout, events: list[Event]) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    template = env.from_string(TEMPLATE.read_text())
    data = report_data(rollout, events)
    return template.render(**data, chart_json=_script_json(data["charts"]))


def report_data(rollout: Rollout, events: list[Event]) -> dict:
    t0 = rollout.started_at
    facts = rollout.facts
    spans = phase_spans(events, t0)
    return {
        "title": f"greenswap rollout {rollout.id} of {rollout.environment}",
        "rollout": rollout,
        "facts": facts,
        "summary": _summary(rollout),
        "phases": spans,
        "cutover_steps": facts.get("cutover_steps") or {},
        "checks": check_results(events),
        "patched": facts.get("patched") or {},
        # The last ones: what led to the end matters most.
        "problems": [e for e in events if e.kind in ("fail", "mismatch", "check")][-50:],
        "mismatches": last_mismatches(events),
        "events": [e for e in events if e.kind != "sample"][-300:],
        "when": _when,
        "charts": {
            "t0": t0,
            "phases": [s.__dict__ for s in spans],
            "marks": _marks(facts, t0),
            "lag": [[round(e.at - t0, 2), e.data["lag_bytes"], e.data.get("direction")]
                    for e in events if e.kind == "sample" and "lag_bytes" in e.data],
            "lb": lb_series(events, t0, facts),
        },
    }


def last_mismatches(events: list[Event]) -> dict | None:
    """The last verify's mismatches: each key's rows on both sides and what the
    transform gives, the columns that differ, and what to do next. None once a
    verify that started since found none (a resumed rollout's)."""
    last = None
    for e in events:
        if e.phase == "verify" and e.kind == "start":
            last = None
        elif e.kind == "mismatch":
            last = e
    if last is None:
        return None
    direction = last.data.get("direction", "forward")
    source, target, expected = SIDES[direction]
    return {"summary": last.message, "direction": direction, "rows": last.data.get("rows", []),
            "next": last.data.get("next"), "sides": {"source": source, "target": target,
                                                      "expected": expected}}


def phase_spans(events: list[Event], t0: float) -> list[PhaseSpan]:
    """Each phase's last run: from its last start to its done, fail or wait."""
    spans: dict[str, PhaseSpan] = {}
    for e in events:
        if e.phase not in PHASES:
            continue
        if e.kind == "start":
            spans[e.phase] = PhaseSpan(e.phase, e.at - t0, None, "running")
        elif e.kind in ("done", "fail", "wait") and e.phase in spans:
            span = spans[e.phase]
            spans[e.phase] = PhaseSpan(span.name, span.start, e.at - t0, e.kind)
    return [spans[p] for p in PHASES if p in spans]


def check_results(events: list[Event]) -> list[dict]:
    """Per (phase, colour, check): how often it ran, how often it failed, and the
    last failure."""
    rows: dict[tuple, dict] = {}
    for e in events:
        if e.kind != "checks":
            continue
        for name in e.data.get("checks", []):
            row = rows.setdefault((e.phase, e.data.get("color"), name),
                                  {"phase": e.phase, "color": e.data.get("color"),
                                   "name": name, "runs": 0, "failed": 0, "last_failure": ""})
            row["runs"] += 1
            failed = [f for f in e.data.get("failures", []) if f.split(":")[0] == name]
            if failed:
                row["failed"] += 1
                row["last_failure"] = failed[0]
    return list(rows.values())


def lb_series(events: list[Event], t0: float, facts: dict) -> list[list]:
    """[t, colour, requests/s, 5xx/s, avg ms] between consecutive LB samples."""
    series = []
    last: dict[str, tuple[float, list[int]]] = {}
    for e in events:
        if e.kind != "sample":
            continue
        for color in ("blue", "green"):
            now = e.data.get(color)
            if not now:
                continue
            if color in last and e.at > last[color][0] and now[0] >= last[color][1][0]:
                then, before = last[color]
                span = e.at - then
                series.append([round(e.at - t0, 2), _label(color, facts),
                               round((now[0] - before[0]) / span, 1),
                               round((now[1] - before[1]) / span, 2), now[2]])
            last[color] = (e.at, now)
    return series


def _label(color: str, facts: dict) -> str:
    """'blue (old)' / 'green (new)': the colours are labels, the roles are what matter."""
    if color == facts.get("blue"):
        return f"{color} (old)"
    return f"{color} (new)" if color == facts.get("green") else color


def _marks(facts: dict, t0: float) -> list[list]:
    marks = []
    for key, label in (("cutover_at", "cutover"), ("rolled_back_at", "rollback")):
        if facts.get(key):
            marks.append([round(facts[key] - t0, 2), label])
    return marks


def _summary(rollout: Rollout) -> list[tuple[str, str]]:
    f = rollout.facts
    rows = [
        ("state", rollout.state),
        ("app version", str(f.get("app_version", "-"))),
        ("started", _when(rollout.started_at)),
        ("ended", _when(rollout.ended_at) if rollout.ended_at else "-"),
        ("started by", str(f.get("started_by", "-"))),
        ("why", str(f.get("reason", "-"))),
        ("old colour (blue)", str(f.get("blue", "-"))),
        ("new colour (green)", str(f.get("green", "-"))),
        ("green's hosts", ", ".join(f.get("green_hosts", [])) or "-"),
        ("cutover pause", _ms(f.get("cutover_pause_ms"))),
        ("rollback pause", _ms(f.get("rollback_pause_ms"))),
        ("bake watched", "-" if "bake_watched_s" not in f else
         f"{f['bake_watched_s']:.1f} s in {len(f.get('bake_segments', []))} segment(s)"),
        ("keys verified", str(f.get("verified_keys", "-"))),
    ]
    if f.get("window_override"):
        rows.append(("patch window overridden", str(f["window_override"])))
    return rows


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)) if at else "-"


def _script_json(data: dict) -> str:
    """JSON safe inside <script>: no '</' can end the element early."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
