"""Calendar warnings reach admins while the hub runs: a hub started in November alerts on
1 December that next year is not covered, once, and logs it once a day while it lasts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.clock import FakeClock
from syndicator.app import Hub
from syndicator.calendar_alerts import CalendarWarnings
from tests.e2e.test_calendar_reload import OVERRIDE_2027
from tests.hub_support import hub_settings
from tests.syndicator.test_delays import sh


def calendar_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "syndicator.calendar_alerts"]


async def calendar_alerts(hub: Hub) -> list[str]:
    return [a["message"] for a in await hub.store.recent_alerts() if a["subject"] == "calendar"]


async def test_crossing_1_december_alerts_once_and_logs_daily(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "syndicator.calendar_alerts")
    clock = FakeClock(sh("2026-11-30 23:59"))
    (tmp_path / "calendar").mkdir()
    settings = hub_settings(tmp_path, sources=[], units=[])
    async with Hub(settings, clock=clock) as hub:
        await hub.calendar_tick()
        assert await calendar_alerts(hub) == [] and calendar_logs(caplog) == []

        clock.set(sh("2026-12-01 00:00"))
        await hub.calendar_tick()
        [alert] = await calendar_alerts(hub)
        assert alert.startswith("【节假日安排】2027年节假日安排尚未载入") and "补充2027年安排" in alert
        assert ".toml" not in alert                             # no server path in what a person reads
        assert len(calendar_logs(caplog)) == 1
        clock.set(sh("2026-12-01 15:00"))
        await hub.calendar_tick()
        assert len(await calendar_alerts(hub)) == 1 and len(calendar_logs(caplog)) == 1   # same day: quiet

        clock.set(sh("2026-12-02 09:00"))
        await hub.calendar_tick()
        assert len(await calendar_alerts(hub)) == 1 and len(calendar_logs(caplog)) == 2   # logged again, no alert

    async with Hub(settings, clock=clock) as again:   # a restart: logged at start-up, not alerted again
        assert len(await calendar_alerts(again)) == 1 and len(calendar_logs(caplog)) == 3
        (tmp_path / "calendar" / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
        await again.calendar_tick()                    # the file is picked up and the warning goes away
        assert again.calendar.warnings(clock.now().date()) == []
        clock.set(sh("2026-12-03 09:00"))
        await again.calendar_tick()
        assert len(calendar_logs(caplog)) == 3


async def test_a_warning_that_returns_is_alerted_again(store, tmp_path: Path) -> None:
    from syndicator.calendar import WorkCalendar

    cal = WorkCalendar(tmp_path / "calendar")
    sent: list[tuple[str, str]] = []

    async def alert(subject: str, message: str) -> None:
        sent.append((subject, message))

    warnings = CalendarWarnings(cal, store, alert, sh("2026-12-01 00:00").tzinfo, holder="h1")  # type: ignore[arg-type]
    assert len(await warnings.check(sh("2026-12-05 10:00"))) == 1
    assert await warnings.check(sh("2026-12-06 10:00")) == []
    assert await warnings.check(sh("2027-01-01 10:00")) == []     # the same gap, now the current year
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
    cal.reload()
    assert await warnings.check(sh("2027-01-02 10:00")) == []
    (tmp_path / "calendar" / "2027.toml").unlink()
    cal.reload()
    assert len(await warnings.check(sh("2027-01-03 10:00"))) == 1
    assert [s for s, _m in sent] == ["calendar"] * 2


async def test_two_hubs_checking_at_once_alert_once(store, tmp_path: Path) -> None:
    import asyncio

    from syndicator.calendar import WorkCalendar

    sent: list[str] = []

    async def slow_alert(subject: str, message: str) -> None:
        await asyncio.sleep(0.01)        # the first hub is still alerting when the second one looks
        sent.append(message)

    tz = sh("2026-12-01 00:00").tzinfo
    hubs = [CalendarWarnings(WorkCalendar(tmp_path / "calendar"), store, slow_alert, tz, holder=f"hub-{n}")  # type: ignore[arg-type]
            for n in (1, 2)]
    await asyncio.gather(*(h.check(sh("2026-12-05 10:00")) for h in hubs))
    assert len(sent) == 1
    await asyncio.gather(*(h.check(sh("2026-12-05 11:00")) for h in hubs))
    assert len(sent) == 1                # remembered in the store: neither alerts again
