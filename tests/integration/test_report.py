"""The report as a browser shows it: Debian's headless Chromium opens the HTML file
and the charts must have been drawn by the page's own script, the tables filled."""

from __future__ import annotations

import re

from orchestrator.ops.report import render
from orchestrator.runbook.context import PHASES
from tests.browser import rendered_dom
from tests.report_data import sample_rollout


def drawn(dom: str, chart: str) -> int:
    match = re.search(rf'<svg id="{chart}"[^>]*data-rendered="(\d+)"', dom)
    assert match, f"chart {chart} was not drawn"
    return int(match.group(1))


def test_chromium_draws_the_charts_and_the_tables(tmp_path):
    rollout, events = sample_rollout()
    page = tmp_path / "report.html"
    page.write_text(render(rollout, events))
    dom = rendered_dom(page)

    assert drawn(dom, "timeline") == len(PHASES)
    assert dom.count('class="phase"') == len(PHASES)
    assert drawn(dom, "lag") == 30
    assert drawn(dom, "lb-rate") > 0 and drawn(dom, "lb-latency") > 0
    assert dom.count('class="mark"') >= 3  # the cutover on each line chart
    assert "pwned" not in dom.split("<body")[0]  # the hostile reason did not run
    for table in ("summary", "phases", "cutover-steps", "checks", "patched", "events"):
        assert re.search(rf'<table id="{table}">.*?<td>', dom, re.S), table
