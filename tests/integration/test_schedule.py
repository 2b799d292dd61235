"""Timers for patch windows: the OnCalendar systemd computes fires exactly when
the cron expression does (checked with systemd-analyze itself), and the units
pass `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from cronsim import CronSim

from orchestrator import config
from orchestrator.errors import ConfigError
from orchestrator.ops import schedule

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "rollout.yml"
ANALYZE = shutil.which("systemd-analyze")


def systemd_next(calendar: str, n: int = 3) -> list[datetime]:
    done = subprocess.run([ANALYZE, "calendar", f"--iterations={n}", calendar],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", done.stdout)
    return [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in found]


@pytest.mark.skipif(ANALYZE is None, reason="no systemd-analyze on this machine")
@pytest.mark.parametrize("cron, zone", [
    ("0 2 * * SUN", "Europe/Berlin"),
    ("30 1 * * MON-FRI", "America/New_York"),
    ("0 */6 * * *", "UTC"),
    ("15 3 1,15 * *", "Asia/Tokyo"),
    ("0 4 * JAN,JUL 6", "Australia/Sydney"),
])
def test_the_timer_fires_when_the_cron_expression_does(cron, zone):
    calendar = schedule.on_calendar(cron, zone)
    now = datetime.now(ZoneInfo(zone))
    it = CronSim(cron, now)
    expected = [next(it).astimezone(UTC) for _ in range(3)]
    assert systemd_next(calendar) == expected, calendar


def test_what_systemd_cannot_say_is_refused():
    with pytest.raises(ConfigError, match="both day of month and day of week"):
        schedule.on_calendar("0 2 1 * MON", "UTC")
    with pytest.raises(ConfigError, match="cannot translate"):
        schedule.on_calendar("0 2 * * MON-FRI/2", "UTC")


@pytest.mark.skipif(ANALYZE is None, reason="no systemd-analyze on this machine")
def test_units_install_verify_and_remove(tmp_path):
    doc = yaml.safe_load(SAMPLE.read_text())
    doc["window"] = {"cron": "0 2 * * SUN", "duration_m": 240, "timezone": "Europe/Berlin"}
    path = SAMPLE.parent / f".schedule-{tmp_path.name}.yml"
    path.write_text(yaml.safe_dump(doc))
    try:
        cfg = config.load(path)
        written = schedule.install(cfg, path, tmp_path)
    finally:
        path.unlink()
    assert sorted(p.name for p in written) == ["greenswap-lab-demo.service",
                                               "greenswap-lab-demo.timer"]
    timer = (tmp_path / "greenswap-lab-demo.timer").read_text()
    assert "OnCalendar=Sun *-*-* 2:0:00 Europe/Berlin" in timer
    done = subprocess.run([ANALYZE, "verify", *map(str, written)], capture_output=True,
                          text=True, timeout=60)
    problems = [ln for ln in done.stderr.splitlines() if "greenswap-lab-demo" in ln]
    assert done.returncode == 0 and not problems, done.stderr
    assert len(schedule.remove(cfg, tmp_path)) == 2 and not list(tmp_path.iterdir())
