"""Patch windows with a fixed clock: time zones, DST, the cutoff, freeze dates,
bad input, and the override with its recorded reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from orchestrator.cli.main import main
from orchestrator.errors import ConfigError, OutsideWindow
from orchestrator.runbook.journal import Journal
from orchestrator.window import Window, check
from tests.sample_app import sample_doc

BERLIN = ZoneInfo("Europe/Berlin")
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "rollout.yml"


def sunday_night(freeze=(), worst=timedelta(minutes=30), tz=BERLIN) -> Window:
    return Window("0 2 * * SUN", timedelta(hours=4), tz, tuple(freeze), worst)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_open_closed_and_the_next_window_in_local_time():
    w = sunday_night()
    assert not w.status(at("2026-11-29T00:59:59+00:00")).open  # 01:59:59 in Berlin
    opened = w.status(at("2026-11-29T01:00:00+00:00"))  # 02:00 in Berlin
    assert opened.open and opened.closes_at == at("2026-11-29T06:00:00+01:00")
    closed = w.status(at("2026-11-29T05:00:00+00:00"))  # 06:00 in Berlin: closed
    assert not closed.open and closed.next_opens_at == at("2026-12-06T02:00:00+01:00")


def test_the_same_window_elsewhere_is_another_utc_time():
    moment = at("2026-11-29T07:30:00+00:00")
    assert not sunday_night().status(moment).open  # 08:30 in Berlin: closed at 06:00
    assert sunday_night(tz=ZoneInfo("America/New_York")).status(moment).open  # 02:30 there


def test_dst_spring_forward_opens_at_the_next_valid_time_and_lasts_its_duration():
    # 2026-03-29 02:00 does not exist in Berlin: the window opens at 03:00 CEST.
    status = sunday_night().status(at("2026-03-29T01:30:00+00:00"))  # 03:30 CEST
    assert status.open and status.opened_at == at("2026-03-29T03:00:00+02:00")
    assert status.closes_at - status.opened_at == timedelta(hours=4)


def test_dst_fall_back_window_is_four_real_hours():
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so the wall clock shows 02:00-05:00
    # for a window that really lasts 4 hours (00:00-04:00 UTC).
    status = sunday_night().status(at("2026-10-25T03:30:00+00:00"))  # 04:30 CET
    assert status.open
    assert status.opened_at.astimezone(UTC) == at("2026-10-25T00:00:00+00:00")
    assert status.closes_at.astimezone(UTC) == at("2026-10-25T04:00:00+00:00")
    assert status.closes_at.strftime("%H:%M %Z") == "05:00 CET"


def test_no_cutover_starts_past_the_cutoff():
    w = sunday_night(worst=timedelta(minutes=30))
    before = at("2026-11-29T05:30:00+01:00")
    after = at("2026-11-29T05:30:01+01:00")
    assert w.status(before).may_cutover(before)
    assert w.status(after).open and not w.status(after).may_cutover(after)
    check(w, None, before, "cutover", cutover=True)
    with pytest.raises(OutsideWindow, match="past the cutoff"):
        check(w, None, after, "cutover", cutover=True)
    check(w, "emergency patch, CHG-1", after, "cutover", cutover=True)  # overridden


def test_a_freeze_date_keeps_the_window_shut():
    w = sunday_night(freeze=[(date(2026, 12, 20), date(2027, 1, 3))])
    status = w.status(at("2026-12-20T03:00:00+01:00"))
    assert not status.open and status.frozen_start is not None
    assert status.next_opens_at == at("2027-01-10T02:00:00+01:00")
    with pytest.raises(OutsideWindow, match="falls on a freeze date"):
        check(w, None, at("2026-12-20T03:00:00+01:00"), "rollout refused")


def config_with(tmp_path: Path, window: dict, **extra) -> Path:
    doc = sample_doc()
    doc["state_dir"] = str(tmp_path / "state")
    doc["window"] = window
    doc["bake"]["duration_s"] = 600
    doc.update(extra)
    path = tmp_path / "rollout.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("window, field", [
    ({"cron": "0 25 * * *", "duration_m": 60}, "window.cron"),
    ({"cron": "0 2 * * *", "duration_m": 60, "timezone": "Mars/Olympus"}, "window.timezone"),
    ({"cron": "0 2 * * *", "duration_m": 5}, "window.duration_m"),  # bake alone is 10 min
    ({"cron": "0 2 * * *", "duration_m": 60, "freeze": ["2026-13-01"]}, "window.freeze[0]"),
    ({"cron": "0 2 * * *", "duration_m": 60, "freeze": ["2027-01-03..2026-12-20"]},
     "window.freeze[0]"),
    ({"cron": "0 2 * * *", "duration_m": 60, "when": "night"}, "window.when"),
])
def test_bad_windows_are_one_line_naming_the_field(tmp_path, window, field):
    from orchestrator import config

    with pytest.raises(ConfigError) as err:
        config.load(config_with(tmp_path, window))
    assert err.value.field == field and "\n" not in err.value.one_line()


def test_rollout_outside_the_window_is_refused_and_changes_nothing(tmp_path, capsys):
    # A window that opens once a year, on a date long past: closed now.
    path = config_with(tmp_path, {"cron": "0 2 29 2 *", "duration_m": 60,
                                  "timezone": "Europe/Berlin"})
    with pytest.raises(SystemExit) as exited:
        main(["rollout", "-c", str(path), "--yes"])
    assert exited.value.code == 3
    assert "rollout refused: the patch window is closed" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_an_override_needs_a_reason_and_the_reason_is_journaled(tmp_path, capsys, monkeypatch):
    doc = yaml.safe_load(SAMPLE.read_text())
    # No lab under this state root: the rollout stops right after it starts.
    provider = {**doc["provider"], "state_root": str(tmp_path / "no-labs")}
    path = config_with(tmp_path, {"cron": "0 2 29 2 *", "duration_m": 60}, provider=provider)
    with pytest.raises(SystemExit) as exited:
        main(["rollout", "-c", str(path), "--yes", "--override-window", " "])
    assert exited.value.code == 3 and not (tmp_path / "state").exists()
    monkeypatch.setenv("GREENSWAP_DB_ADMIN_PASSWORD", "x")
    monkeypatch.setenv("GREENSWAP_DB_PASSWORD", "y")
    with pytest.raises(SystemExit):
        main(["rollout", "-c", str(path), "--yes", "--override-window", "CVE-2026-1234 fix"])
    journal = Journal(tmp_path / "state")
    latest = journal.latest("lab-demo")
    assert latest.facts["window_override"] == "CVE-2026-1234 fix"
    assert any(e.kind == "window" and "CVE-2026-1234 fix" in e.message
               for e in journal.events(latest.id))
