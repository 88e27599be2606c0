"""Per-source deadline settings layer over [deadlines], and every consumer uses the same result:
intake, the hub (delay monitor and its look-ahead), and the monthly report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import FakeClock
from core.models import DelayKind, Item
from syndicator.app import Hub
from syndicator.calendar import WorkCalendar
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.delays import DelayMonitor, local_text
from syndicator.intake import Intake
from syndicator.report import monthly_report
from syndicator.store import Store
from tests.hub_support import hub_settings, rss_source
from tests.syndicator.test_delays import SETTINGS, send, sh

CAL = WorkCalendar()
SITE = {"id": "u1-site", "kind": "static", "options": {"directory": "site", "public_url": "https://u1.example.gov.cn/"}}


def test_source_fields_layer_over_the_global_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[deadlines]
day_end = "17:30"
at_risk_hours = 8

[[sources]]
id = "gov"
name = "国务院"
kind = "rss"
url = "https://www.gov.cn/rss.xml"
  [sources.deadline]
  rule = "working_days"
  days = 2

[[sources]]
id = "plain"
name = "省政府"
kind = "rss"
url = "https://www.hubei.gov.cn/rss.xml"
""", encoding="utf-8")
    s = load_settings(path)
    gov = s.deadlines_for("gov")
    assert (gov.rule, gov.days, gov.day_end, gov.at_risk_hours) == ("working_days", 2, "17:30", 8)
    assert s.deadlines_for("plain") == s.deadlines == s.deadlines_for(None) == s.deadlines_for("unknown")
    assert s.max_at_risk_hours() == 8


def test_a_merge_that_is_invalid_names_the_source(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[deadlines]
office_start = "13:00"
office_end = "18:00"
[[sources]]
id = "gov"
name = "国务院"
kind = "rss"
url = "https://www.gov.cn/rss.xml"
deadline = { office_end = "12:00", office_start = "08:00" }
[[sources]]
id = "bad"
name = "坏"
kind = "rss"
url = "https://x.example/rss.xml"
deadline = { office_end = "12:00" }
""", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "sources[1](id=bad).deadline: office_start 13:00" in text and "(merged over [deadlines])" in text
    assert "source gov" not in text



def test_a_source_field_is_checked_only_once_merged(tmp_path: Path) -> None:
    """Alone, office_end = "08:00" fails against the default office_start 08:30, and office_start = "17:45"
    against the default office_end 17:30; over these [deadlines] both are valid."""
    path = tmp_path / "c.toml"
    path.write_text("""
[deadlines]
office_start = "07:00"
office_end = "18:00"
[[sources]]
id = "early"
name = "早班"
kind = "rss"
url = "https://www.gov.cn/rss.xml"
deadline = { office_end = "08:00" }
[[sources]]
id = "late"
name = "晚班"
kind = "rss"
url = "https://www.hubei.gov.cn/rss.xml"
deadline = { office_start = "17:45", rule = "working_hours" }
""", encoding="utf-8")
    s = load_settings(path)
    assert (s.deadlines_for("early").office_start, s.deadlines_for("early").office_end) == ("07:00", "08:00")
    late = s.deadlines_for("late")
    assert (late.office_start, late.office_end, late.rule) == ("17:45", "18:00", "working_hours")


@pytest.mark.parametrize(("table", "expected"), [
    ('{ office_end = "25:00" }', "office_end: 时间超出范围"),
    ('{ days = 0 }', "days: Input should be greater than or equal to 1"),
    ('{ dayend = "17:00" }', "dayend: Extra inputs are not permitted"),
])
def test_a_bad_source_field_names_the_source_and_the_field(tmp_path: Path, table: str, expected: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"""
[[sources]]
id = "gov"
name = "国务院"
kind = "rss"
url = "https://www.gov.cn/rss.xml"
deadline = {table}
""", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"sources[0](id=gov).deadline.{expected}" in str(err.value) and "(merged over [deadlines])" in str(err.value)
    assert "Value error" not in str(err.value)

async def test_intake_and_hub_use_the_merged_settings(store: Store, tmp_path: Path) -> None:
    settings = Settings.model_validate({
        "base_dir": tmp_path, "deadlines": {"day_end": "17:30", "at_risk_hours": 8},
        "sources": [{"id": "gov", "name": "国务院", "kind": "rss", "url": "https://www.gov.cn/rss.xml",
                     "deadline": {"rule": "working_days", "days": 2}}],
        "units": [{"id": "u1", "name": "单位一", "accounts": [SITE]}]})
    clock = FakeClock(sh("2025-10-09 10:00"))
    item = Item(source_id="gov", guid="g1", url="https://www.gov.cn/1.htm", title="通知", detected_at=clock.now(),
                published_at=sh("2025-10-09 09:00"))
    [planned], _deadline, _kind = Intake(settings, store, CAL, clock).plan(settings.sources[0], item)
    assert local_text(planned.deadline_at) == "2025-10-11 17:30"   # 2 working days (Sat 10-11 is one), day_end kept
    assert Hub(settings, clock=clock).deadline_settings_for("gov") == settings.deadlines_for("gov")


async def test_monitor_looks_ahead_as_far_as_the_widest_at_risk_window(tmp_path: Path) -> None:
    clock = FakeClock(sh("2025-10-20 09:00"))        # Monday
    settings = hub_settings(tmp_path, sources=[rss_source(
        "gov", "https://www.gov.cn/rss.xml", deadline={"rule": "working_days", "days": 5, "at_risk_hours": 100})],
                            units=[{"id": "u1", "name": "单位一", "accounts": [SITE]}])
    async with Hub(settings, clock=clock) as hub:
        assert hub.monitor.horizon == timedelta(hours=100)
        item = Item(source_id="gov", guid="g1", url="https://www.gov.cn/1.htm", title="通知",
                    detected_at=clock.now(), published_at=sh("2025-10-20 08:00"))
        planned, deadline, kind = hub.intake.plan(settings.sources[0], item)
        await hub.store.ingest(item, deadline.anchor, kind, planned, clock.now())
        assert local_text(deadline.deadline) == "2025-10-27 24:00"
        clock.set(deadline.deadline - timedelta(hours=90))
        [record] = await hub.monitor.scan()
    assert record.kind is DelayKind.AT_RISK           # 90 h ahead: inside this source's window, beyond 72 h


async def test_report_measures_working_hours_with_each_sources_settings(store: Store, tmp_path: Path) -> None:
    """Office hours 00:00–24:00 for one source: its late deliveries count every hour as working time,
    exactly as the delay monitor recorded them (the global 08:30–17:30 would give 3.5 h)."""
    from tests.syndicator.test_delays import add_item

    wide = SETTINGS.model_copy(update={"office_start": "00:00", "office_end": "24:00"})
    clock = FakeClock(sh("2025-10-14 09:00"))        # Tuesday
    ids = await add_item(store, 1, sh("2025-10-14 08:00"), sh("2025-10-14 08:30"), ["u1-site"])  # due Wed 24:00
    clock.set(sh("2025-10-16 12:00"))
    await send(store, clock, "u1-site", "delivered")
    mon = DelayMonitor(store, lambda _src: wide, CAL, clock)
    [record] = await mon.scan()
    assert (record.delivery_id, record.late_working_hours) == (ids["u1-site"], 12)
    [row] = await monthly_report(store, "2025-10", CAL, SETTINGS, lambda _src: wide)
    assert row["late_median_working_hours"] == record.late_working_hours == 12
    [global_only] = await monthly_report(store, "2025-10", CAL, SETTINGS)
    assert global_only["late_median_working_hours"] == 3.5
