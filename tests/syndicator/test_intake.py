"""Intake: sanitising off the event loop, no rebuild of unchanged known entries, no flip-flop between
sources through the whole path, and unreadable upstream dates carried to the log, the delay reason and
the dashboard. Runs on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.models import DelayKind
from feeds.model import Entry
from feeds.specs import RuleSpec
from syndicator import intake as intake_module
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.dashboard.overview import _title_cell
from syndicator.delays import DelayMonitor
from syndicator.intake import INLINE_HASH_CHARS, Intake
from syndicator.store import Store
from tests.syndicator.test_delays import sh

URL = "https://www.gov.cn/zhengce/content/202611/content_1.htm"
BODY = "<p>正文第一段。</p><script>alert(1)</script><p><img src='/a.png'>第二段。</p>"


def settings(tmp_path: Path) -> Settings:
    site = {"id": "u1-site", "kind": "static", "options": {"directory": "site", "public_url": "https://u1.gov.cn/"}}
    return Settings.model_validate({
        "base_dir": tmp_path,
        "sources": [{"id": "gwy", "name": "国务院", "kind": "rss", "url": "https://www.gov.cn/rss.xml"},
                    {"id": "province", "name": "省政府", "kind": "rss", "url": "https://www.hubei.gov.cn/rss.xml"}],
        "units": [{"id": "u1", "name": "单位一", "resend_updates": True, "accounts": [site]}],
    })


@pytest.fixture
def rig(store: Store, tmp_path: Path) -> tuple[Intake, Settings, FakeClock]:
    clock = FakeClock(sh("2026-11-25 10:00"))      # Wednesday
    s = settings(tmp_path)
    return Intake(s, store, WorkCalendar(), clock), s, clock


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the thread each call of ``syndicator.intake.<name>`` ran in."""
    real = getattr(intake_module, name)
    threads: list[str] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(intake_module, name, wrapped)
    return threads


async def test_build_item_leaves_the_event_loop_free(rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """While an entry is sanitised, the loop keeps running: here it must open the gate build_item waits at."""
    intake, s, _clock = rig
    entered, gate, opened = threading.Event(), threading.Event(), []
    real = intake_module.build_item

    def gated(*args: Any) -> Any:
        entered.set()
        opened.append(gate.wait(timeout=5))    # times out only when it holds the loop the gate is opened from
        return real(*args)

    monkeypatch.setattr(intake_module, "build_item", gated)
    task = asyncio.create_task(intake.accept(s.sources[0], Entry(url=URL, title="国务院关于X的通知", content=BODY),
                                             RuleSpec()))
    await asyncio.to_thread(entered.wait, 5)   # build_item has started (here, or holding the loop)
    gate.set()
    result = await task
    assert opened == [True] and result.status == "created"
    item = await intake.store.get_item(result.item_id)
    assert item is not None and "<script>" not in item.content and item.images == ("https://www.gov.cn/a.png",)


async def test_a_large_body_is_hashed_off_the_loop_and_unchanged_entries_are_not_rebuilt(
        rig, monkeypatch: pytest.MonkeyPatch) -> None:
    intake, s, clock = rig
    builds, hashes = spy(monkeypatch, "build_item"), spy(monkeypatch, "raw_hash")
    main = threading.current_thread().name
    big = Entry(url=URL, title="国务院关于X的通知", content="<p>" + "正文" * INLINE_HASH_CHARS + "</p>")
    assert (await intake.accept(s.sources[0], big, RuleSpec())).status == "created"
    assert builds[0] != main and hashes[0] != main
    for _poll in range(3):                      # the feed changed elsewhere; this entry did not
        clock.advance(minutes=5)
        assert (await intake.accept(s.sources[0], big, RuleSpec())).status == "seen"
    assert len(builds) == 1 and len(hashes) == 4
    small = Entry(url=URL + "?n=2", title="国务院关于Y的通知", content="<p>短</p>")
    await intake.accept(s.sources[0], small, RuleSpec())
    assert hashes[-1] == main                   # a small entry is hashed inline (no thread hop)
    big.content = big.content.replace("正文", "更正", 1)
    updated = await intake.accept(s.sources[0], big, RuleSpec())
    assert (updated.status, updated.version, len(builds)) == ("updated", 2, 3)


async def test_two_sources_with_different_wording_are_sent_once(rig) -> None:
    """/tmp/audit5/pingpong.py: was v1 → v6 and 6 deliveries after 3 rounds for a resend_updates unit."""
    intake, s, clock = rig
    a, b = s.sources
    statuses = []
    for _round in range(3):
        clock.advance(minutes=5)
        statuses.append((await intake.accept(a, Entry(url=URL, title="国务院关于X的通知"), RuleSpec())).status)
        statuses.append((await intake.accept(b, Entry(url=URL.replace("https", "http"),
                                                       title="国务院关于X的通知（全文）"), RuleSpec())).status)
    assert statuses == ["created", "duplicate", "seen", "seen", "seen", "seen"]
    [delivery] = await intake.store.deliveries()
    item = await intake.store.get_item(delivery.item_id)
    assert item is not None and (item.title, item.version) == ("国务院关于X的通知", 1)


async def test_an_unreadable_upstream_date_is_kept_logged_and_explained(
        rig, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    intake, s, clock = rig
    entry = Entry(url=URL, title="国务院关于X的通知", published_raw="2026年13月45日 上午",
                  date_problem="date text '2026年13月45日 上午' holds no date we can read")
    plain = Entry(url=URL + "?n=2", title="国务院关于Y的通知")   # no date at all: the old wording stays
    with caplog.at_level(logging.WARNING, logger="syndicator.intake"):
        result = await intake.accept(s.sources[0], entry, RuleSpec())
        undated = await intake.accept(s.sources[0], plain, RuleSpec())
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "source gwy" in warning and "2026年13月45日 上午" in warning and "detection" in warning
    item = await intake.store.get_item(result.item_id)
    assert item is not None and item.published_at is None
    assert (item.published_raw, item.date_problem) == (entry.published_raw, entry.date_problem)

    clock.set(sh("2026-11-27 09:00"))           # past Thursday 24:00
    monitor = DelayMonitor(intake.store, s.deadlines_for, intake.calendar, clock)
    records = {r.item_title: r for r in await monitor.scan()}
    late = records["国务院关于X的通知"]
    assert late.kind is DelayKind.OVERDUE
    assert "来源发布时间无法识别（原文：2026年13月45日 上午），按检测时间计" in late.reason
    assert "上游未提供发布时间" not in late.reason
    assert "上游未提供发布时间，按检测时间计" in records["国务院关于Y的通知"].reason

    cell = str(_title_cell(item))
    assert "来源发布时间无法识别（原文：2026年13月45日 上午），截止时间按检测时间计算" in cell
    other = await intake.store.get_item(undated.item_id)
    assert other is not None and "无法识别" not in str(_title_cell(other))
