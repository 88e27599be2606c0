"""The 2026→2027 boundary in the running hub: provisional until an override for 2027 appears,
exact once it does (picked up by reload without a restart)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.clock import SHANGHAI, FakeClock
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.hub_support import hub_settings, rss_source, webhook_and_site_units

# A hypothetical 2027 arrangement for the test only (the real one comes from the State Council).
OVERRIDE_2027 = """
year = 2027
notice = "测试用：假设的 2027 年元旦安排（放到 1 月 4 日周一，临时计算不知道这一天）"
holidays = [{ from = "2027-01-01", to = "2027-01-04", name = "元旦" }]
workdays = []
"""


async def test_provisional_deadline_becomes_exact_when_override_appears(serve, tmp_path) -> None:
    clock = FakeClock(datetime(2026, 12, 31, 10, 0, tzinfo=SHANGHAI).astimezone(UTC))
    state = UpstreamState()
    state.publish("国务院办公厅关于2027年元旦放假安排的通知", published_at=clock.now())
    upstream = await serve(build_upstream(state))
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    (tmp_path / "calendar").mkdir()
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                            units=webhook_and_site_units(1, receiver, tmp_path / "site"))
    async with Hub(settings, clock=clock) as hub:
        await hub.watcher.poll(settings.sources[0])
        before = await hub.store.deliveries()
        assert all(d.deadline_provisional for d in before)
        # the provisional guess knows Fri 2027-01-01 (元旦, fixed by law) and the weekend, not the override's 01-04
        assert {d.deadline_at.astimezone(SHANGHAI).isoformat() for d in before} == {"2027-01-05T00:00:00+08:00"}
        assert any("2027" in w for w in hub.calendar.warnings(datetime(2026, 12, 31).date()))

        (tmp_path / "calendar" / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
        assert await hub.reload_calendar() == 2
        after = await hub.store.deliveries()
    assert not any(d.deadline_provisional for d in after)
    assert {d.deadline_at.astimezone(SHANGHAI).isoformat() for d in after} == {"2027-01-06T00:00:00+08:00"}


async def test_broken_override_keeps_the_old_calendar_and_alerts(serve, tmp_path, clock) -> None:
    (tmp_path / "calendar").mkdir()
    settings = hub_settings(tmp_path, sources=[], units=[])
    async with Hub(settings, clock=clock) as hub:
        (tmp_path / "calendar" / "2027.toml").write_text('year = 2027\nholidays = ["2027-13-01"]\n', "utf-8")
        assert await hub.reload_calendar() == 0
        alerts = [a["message"] for a in await hub.store.recent_alerts()]
    assert any("节假日覆盖文件有误" in m and "2027.toml" in m for m in alerts)
