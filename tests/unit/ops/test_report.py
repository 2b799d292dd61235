"""The report's data and page, from a journal's events."""

from __future__ import annotations

import json
import re

from orchestrator.db.mismatch import CAUSE_OUTSIDE, Mismatch, mismatch_lines
from orchestrator.ops.report import check_results, last_mismatches, lb_series, phase_spans, render
from orchestrator.rollouts import Event
from orchestrator.runbook.context import PHASES
from tests.report_data import HOSTILE, T0, sample_rollout


def test_phases_run_from_their_start_to_their_end():
    _rollout, events = sample_rollout()
    spans = phase_spans(events, T0)
    assert [s.name for s in spans] == list(PHASES)
    assert spans[0].start == 0 and spans[0].end == 8 and spans[0].state == "done"
    assert spans[-1].state == "wait"


def test_lb_rates_come_from_counter_differences():
    rollout, events = sample_rollout()
    series = lb_series(events, T0, rollout.facts)
    blue = [row for row in series if row[1] == "blue (old)"]
    assert blue[0][2] == 50.0  # 100 requests more every 2 s
    assert any(row[1] == "green (new)" and row[2] > 0 for row in series)


def test_check_results_count_runs_and_failures_per_check():
    _rollout, events = sample_rollout()
    rows = {r["name"]: r for r in check_results(events)}
    assert rows["app health"]["failed"] == 0 and rows["rows"]["failed"] == 1


def test_the_page_carries_its_data_and_escapes_journaled_text():
    rollout, events = sample_rollout()
    page = render(rollout, events)
    assert HOSTILE not in page  # neither in the tables nor in the script's JSON
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1)
                      .replace("<\\/", "</"))
    assert len(data["phases"]) == len(PHASES) and len(data["lag"]) == 30
    assert data["marks"] == [[70.0, "cutover"]]
    assert "greenswap-lab-base 1.0 -&gt; 1.1" in page and "ops@bastion pid 42" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_the_summary_shows_the_bake_actually_watched():
    from dataclasses import replace

    from orchestrator.ops.report import report_data

    rollout, events = sample_rollout()
    assert dict(report_data(rollout, events)["summary"])["bake watched"] == "-"
    resumed = replace(rollout, facts={**rollout.facts, "bake_watched_s": 12.04, "bake_segments": [
        {"start": 0, "end": 2.04, "rounds": 2}, {"start": 50, "end": 60, "rounds": 10}]})
    assert dict(report_data(resumed, events)["summary"])["bake watched"] == \
        "12.0 s in 2 segment(s)"


def _mismatch_event() -> Event:
    """What DatabaseSwap.verify journals: a row changed on green, with hostile text."""
    row = Mismatch("stock_levels", ("D",), "differs", ("name", "on_hand"),
                   {"sku": "D", "name": "item D", "qty": 0},
                   {"sku": "D", "name": "item D", "on_hand": 0},
                   {"sku": "D", "name": HOSTILE, "on_hand": 9999}, CAUSE_OUTSIDE).as_dict()
    return Event(1, T0 + 45, "verify", "mismatch",
                 "green differs from f(blue) at 1 key(s): stock_levels['D'] (name, on_hand)",
                 {"direction": "forward", "rows": [row], "next": "find the writer"})


def test_a_verify_mismatch_shows_both_rows_and_what_f_gives_in_the_page_and_in_words():
    rollout, events = sample_rollout()
    events.append(_mismatch_event())
    page = render(rollout, events)
    table = re.search(r'<table id="mismatches">(.*?)</table>', page, re.S).group(1)
    assert "stock_levels" in table and "9999" in table and "item D" in table
    assert HOSTILE not in page and "find the writer" in page
    found = last_mismatches(events)
    lines = mismatch_lines(found["rows"][0], found["direction"])
    assert lines[0] == ("stock_levels['D']: differs in name, on_hand; green was written"
                        " outside replay")
    assert lines[2] == "  on_hand: green has 9999, f(blue) gives 0"
    assert last_mismatches(sample_rollout()[1]) is None
    # A verify that started since (a resumed rollout's) and found nothing: none shown.
    events.append(Event(1, T0 + 90, "verify", "start", "verify started", {}))
    assert last_mismatches(events) is None
