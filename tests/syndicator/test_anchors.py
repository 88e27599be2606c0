"""Anchor cases end to end, through the real watcher, intake, dispatcher, delay monitor and report:
an item published before tracking (baseline), a tracked item found late while the source was failing,
an item dated in the future (implausible); and an operator's correction of an upstream time."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.fetch import FetchError
from core.models import DelayKind
from feeds.model import Entry
from feeds.reader import SourceReader
from feeds.specs import RuleSpec
from syndicator.app import Hub
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.delays import local_text
from syndicator.evidence import DETAIL_COLUMNS, report_details
from syndicator.intake import Intake
from syndicator.operations import Operations
from syndicator.report import format_report, monthly_report
from syndicator.store import Store
from syndicator.store.db import open_database
from syndicator.store.schema import MIGRATIONS, _statements, migrate
from tests.conftest import pg_schema
from tests.hub_support import drain, hub_settings
from tests.syndicator.test_deadline_recompute import v1_database_url  # noqa: F401  (a fixture)
from tests.syndicator.test_delays import sh
from tests.syndicator.test_watcher_faults import HTML_SOURCE, LIST, Scripted, article_url, html_result, list_page

UNIT = {"id": "u1", "name": "单位一", "accounts": [
    {"id": "u1-site", "kind": "static", "options": {"directory": "site", "public_url": "https://u1.example.gov.cn/zzbz/"}}]}


def article(when: str, body: str) -> str:
    """An article page whose firstpublishedtime meta gives the upstream time ('YYYY-MM-DD HH:MM')."""
    meta = when.replace(" ", "-") + ":00"
    return (f'<html><head><meta name="firstpublishedtime" content="{meta}"></head><body>'
            f'<div class="TRS_UEDITOR"><p>{body}，全文共计若干条款。</p></div></body></html>')


class Upstream:
    def __init__(self, hub: Hub) -> None:
        self.scripted = Scripted()
        hub.watcher.reader = SourceReader(self.scripted, lambda: self.scripted)
        self.rows: list[tuple[int, str, str]] = []

    def publish(self, n: int, title: str, when: str) -> None:
        self.rows.insert(0, (n, title, when[:10]))
        self.scripted.pages[article_url(n)] = html_result(article_url(n), article(when, title))
        self.scripted.pages[LIST] = html_result(LIST, list_page(self.rows))

    def fail(self) -> None:
        self.scripted.pages[LIST] = FetchError(f"{LIST}: HTTP 503", url=LIST, status=503)

    def recover(self) -> None:
        self.scripted.pages[LIST] = html_result(LIST, list_page(self.rows))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    clock = FakeClock(sh("2026-11-25 10:00"))                  # Wednesday
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(pg_schema()) if request.param == "postgres" else None
        settings = hub_settings(tmp_path, sources=[HTML_SOURCE], units=[UNIT], tick_seconds=0.01, storage_url=url)
        yield await stack.enter_async_context(Hub(settings, clock=clock))


async def poll(hub: Hub) -> None:
    await hub.watcher.poll(hub.settings.sources[0])


async def details(hub: Hub) -> dict[str, dict[str, Any]]:
    rows = await report_details(hub.store, "2026-11", hub.calendar, hub.settings.deadlines,
                                hub.deadline_settings_for)
    return {r["title"]: r for r in rows}


async def report_text(hub: Hub, fmt: str) -> str:
    rows = await monthly_report(hub.store, "2026-11", hub.calendar, hub.settings.deadlines, hub.deadline_settings_for)
    listing = list((await details(hub)).values())
    return format_report(rows, fmt, month="2026-11", names={"u1": "单位一"}, details=listing)


async def test_an_item_published_before_tracking_is_a_baseline(hub: Hub) -> None:
    up = Upstream(hub)
    up.publish(1, "国务院关于基线稿件的通知", "2026-11-20 09:30")        # Friday, before the first poll
    await poll(hub)
    assert await hub.store.tracking_start("zuixin") == sh("2026-11-25 10:00")
    await drain(hub)
    [rec] = await hub.monitor.scan()
    row = (await details(hub))["国务院关于基线稿件的通知"]
    # the deadline is counted from the upstream time, honestly in the past: Friday → Monday 24:00
    assert local_text(row["deadline_at"]) == "2026-11-23 24:00" and row["anchor_kind"] == "baseline"
    assert row["state"] == "delivered" and row["external_url"].startswith("https://u1.example.gov.cn/zzbz/")
    assert rec.kind is DelayKind.DELIVERED_LATE
    assert rec.reason.startswith("【基线稿件，未纳入考核】于 2026-11-25 10:00 发布")
    assert "基线稿件：上游发布于 2026-11-20 09:30，早于本系统开始跟踪该来源，未纳入考核" in rec.reason
    [counts] = await monthly_report(hub.store, "2026-11", hub.calendar, hub.settings.deadlines)
    assert (counts["required"], counts["baseline"], counts["on_time"], counts["late"], counts["missing"],
            counts["open"], counts["on_time_rate"]) == (1, 1, 0, 0, 0, 0, None)   # never on time, never late
    md = await report_text(hub, "md")
    assert "另有基线（未纳入考核）1 条" in md and "基线/未纳入考核 = 稿件发布于本系统开始跟踪该来源之前" in md
    line = next(x for x in md.splitlines() if "国务院关于基线稿件的通知" in x)
    assert "2026-11-20 09:30" in line and "| 基线/未纳入考核 |" in line and "2026-11-23 24:00" in line


async def test_a_tracked_item_found_late_while_the_source_failed(hub: Hub) -> None:
    up = Upstream(hub)
    up.publish(1, "国务院关于按时发现的通知", "2026-11-25 10:00")
    await poll(hub)                                                     # tracking starts Wednesday 10:00
    await drain(hub)
    hub.clock.set(sh("2026-11-25 10:01"))
    up.fail()
    await poll(hub)
    up.publish(2, "国务院关于迟发现的通知", "2026-11-25 11:00")
    up.fail()                                                           # published, but the list cannot be read
    for when in ("2026-11-25 12:00", "2026-11-26 09:00"):
        hub.clock.set(sh(when))
        await poll(hub)
    hub.clock.set(sh("2026-11-27 09:00"))                               # Friday: the source answers again
    up.recover()
    await poll(hub)
    await drain(hub)
    records = [r for r in await hub.monitor.scan() if r.item_title == "国务院关于迟发现的通知"]
    row = (await details(hub))["国务院关于迟发现的通知"]
    assert row["anchor_kind"] == "published" and row["detection_health"] == "failing"
    assert local_text(row["deadline_at"]) == "2026-11-26 24:00"          # from the upstream time, not detection
    assert [r.kind for r in records] == [DelayKind.DELIVERED_LATE]
    assert ("检测延迟：上游发布于 2026-11-25 11:00，本系统于 2026-11-27 09:00 发现（来源状况：来源抓取失败："
            "自 2026-11-25 10:01 起连续失败 3 次（最近错误：") in records[0].reason
    assert "HTTP 503" in records[0].reason
    [counts] = await monthly_report(hub.store, "2026-11", hub.calendar, hub.settings.deadlines)
    assert (counts["on_time"], counts["late"], counts["baseline"]) == (1, 1, 0)
    text = await report_text(hub, "csv")
    line = next(r for r in csv.reader(io.StringIO(text)) if "国务院关于迟发现的通知" in r)
    cells = dict(zip(DETAIL_COLUMNS, line, strict=True))
    assert cells["上游发布时间"] == "2026-11-25 11:00" and cells["本系统发现时间"] == "2026-11-27 09:00"
    assert cells["时间起算口径"] == "正常跟踪" and cells["超时（工作小时）"] == "0.5"
    assert "检测延迟" in cells["原因"] and cells["公开链接"].startswith("https://u1.example.gov.cn/")


async def test_a_future_date_is_implausible_anchored_at_detection_and_listed(hub: Hub) -> None:
    up = Upstream(hub)
    up.publish(1, "国务院关于日期写错的通知", "2026-11-26 12:00")         # tomorrow, by the source's clock
    await poll(hub)
    hub.clock.set(sh("2026-11-27 09:00"))
    records = await hub.monitor.scan()                                  # never sent: overdue
    row = (await details(hub))["国务院关于日期写错的通知"]
    assert row["anchor_kind"] == "implausible" and local_text(row["anchor_at"]) == "2026-11-25 10:00"
    assert local_text(row["deadline_at"]) == "2026-11-26 24:00"
    [rec] = records
    assert rec.kind is DelayKind.OVERDUE
    assert "上游发布时间不可信，按检测时间计（上游标注 2026-11-26 12:00，晚于检测时间）" in rec.reason
    md = await report_text(hub, "md")
    quality = md.split("## 来源数据质量问题", 1)[1]
    assert "| zuixin | 国务院关于日期写错的通知 |" in quality and "发布时间晚于发现时间（超出容差）" in quality
    assert "| 发布时间异常（按检测时间） |" in md.split("## 逐条明细", 1)[1]


async def test_an_operator_correction_recomputes_and_is_audited(hub: Hub) -> None:
    up = Upstream(hub)
    up.publish(1, "国务院关于日期写错的通知", "2026-11-26 12:00")
    await poll(hub)
    hub.clock.set(sh("2026-11-27 09:00"))
    [overdue] = await hub.monitor.scan()
    row = (await details(hub))["国务院关于日期写错的通知"]
    ops = Operations(hub.settings, hub.store, hub.clock)
    refused = await ops.correct_time(row["item_id"], "2026-11-24 16:00", "  ", "张三", hub.calendar)
    assert not refused.ok and "理由" in refused.message
    done = await ops.correct_time(row["item_id"], "2026-11-24 16:00", "来源页面标注错误，以国务院公报为准", "张三",
                                  hub.calendar)
    assert done.ok and "2026-11-25 24:00" in done.message
    after = (await details(hub))["国务院关于日期写错的通知"]
    # corrected to a time before tracking started: a baseline, due the next working day after it
    assert after["anchor_kind"] == "baseline" and local_text(after["deadline_at"]) == "2026-11-25 24:00"
    assert after["published_at"] == sh("2026-11-24 16:00")
    [corr] = await hub.store.time_corrections(row["item_id"])
    assert (corr["actor"], corr["reason"], corr["old_published_at"]) == ("张三", "来源页面标注错误，以国务院公报为准",
                                                                          sh("2026-11-26 12:00"))
    audit = [a["message"] for a in await hub.store.recent_alerts() if a["subject"] == "operator:张三"]
    assert audit and "2026-11-26 12:00 → 2026-11-24 16:00" in audit[0] and "以国务院公报为准" in audit[0]
    archived = await hub.store.superseded_delays(overdue.delivery_id)
    assert [s.kind for s in archived] == ["overdue"] and "人工更正上游发布时间" in archived[0].why
    [again] = await hub.monitor.scan()                                  # derived afresh against the new deadline
    assert again.kind is DelayKind.OVERDUE and "2026-11-25 24:00" in again.reason
    assert again.reason.startswith("【基线稿件，未纳入考核】")



async def test_a_configured_tracking_start_decides_baseline_and_late_detection(store: Store, tmp_path: Path) -> None:
    """A source added to a running duty with tracking_starts_at: earlier items are baselines; later ones are
    tracked even though the hub first polled the source days afterwards (found late, counted late)."""
    settings = Settings.model_validate({
        "base_dir": tmp_path, "units": [UNIT],
        "sources": [{"id": "gwy", "name": "国务院", "kind": "rss", "url": "https://www.gov.cn/rss.xml",
                     "tracking_starts_at": "2026-11-23T00:00:00+08:00"}]})
    clock = FakeClock(sh("2026-11-25 10:00"))
    intake = Intake(settings, store, WorkCalendar(), clock)
    source = settings.sources[0]
    kinds: dict[str, tuple[str, str, str | None]] = {}
    for n, when in enumerate(("2026-11-20 09:00", "2026-11-23 09:00")):
        entry = Entry(url=f"https://www.gov.cn/zhengce/{n}.htm", title=f"国务院关于第{n}项工作的通知",
                      published_at=sh(when))
        result = await intake.accept(source, entry, RuleSpec())
        [row] = await store.proof_rows(item_id=result.item_id)
        kinds[when] = (row["anchor_kind"], local_text(row["deadline_at"]), row["detection_health"])
    assert kinds == {"2026-11-20 09:00": ("baseline", "2026-11-23 24:00", None),
                     "2026-11-23 09:00": ("published", "2026-11-24 24:00", "not_running")}


async def test_migration_starts_tracking_where_the_store_first_saw_each_source(v1_database_url: str) -> None:  # noqa: F811
    """A store from before migration 11: a source's tracking start is its first detected item, else its last
    success; a source never polled successfully starts at its next successful poll."""
    db = open_database(v1_database_url)
    await db.connect()
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for version, sql in MIGRATIONS:
                if version < 11:
                    for statement in _statements(sql, db.dialect):
                        await tx.execute(statement)
                    await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
            await tx.executemany(
                "INSERT INTO sources (source_id, last_success_at) VALUES (?, ?)",
                [("gov", sh("2026-12-20 12:00")), ("quiet", sh("2026-12-19 08:00")), ("broken", None)])
            await tx.executemany(
                "INSERT INTO items (source_id, guid, url, canonical_url, title, content_hash, detected_at, anchor_at,"
                " anchor_kind) VALUES ('gov', ?, ?, ?, 't', 'h', ?, ?, 'published')",
                [(f"g{n}", f"u{n}", f"u{n}", sh(when), sh(when))
                 for n, when in enumerate(("2026-12-18 09:10", "2026-12-17 10:00"))])
        assert await migrate(db) == MIGRATIONS[-1][0]
        store = Store(db, FakeClock(sh("2026-12-31 12:00")))
        assert await store.tracking_start("gov") == sh("2026-12-17 10:00")
        assert await store.tracking_start("quiet") == sh("2026-12-19 08:00")
        assert await store.tracking_start("broken") is None
        assert await store.start_tracking("broken", sh("2026-12-31 12:00")) == sh("2026-12-31 12:00")
        assert await store.start_tracking("gov", sh("2026-12-31 12:00")) == sh("2026-12-17 10:00")   # kept
    finally:
        await db.close()
