"""Possible duplicates and cross-source merges are visible to operators: counted in `status`, /metrics and the
monthly report (with its definition), filterable on the dashboard; every merge shown with both sources."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from core.models import Item
from syndicator.metrics import render_metrics
from syndicator.report import REPORT_COLUMNS, REPORT_DEFINITIONS, VERIFY_COLUMNS, format_report, monthly_report
from syndicator.status import collect_status
from tests.dashboard_support import dashboard, get, login


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


async def flag_and_merge(hub) -> tuple[list[int], int]:
    """Two deliveries re-sent blind (possible duplicates) and a copy of item 1 from the province's feed."""
    store, now = hub.store, hub.clock.now()
    delivered = [d for d in await store.deliveries(states=["delivered"], limit=50)]
    flagged = [d.id for d in delivered[:2]]
    for delivery_id in flagged:
        await store.mark_delivered(delivery_id, now, "x", None, "平台无法核对，已重发：可能重复",
                                   possible_duplicate=True)
    first = await store.get_item(delivered[0].item_id)
    copy = Item(source_id="hubei", guid="hb-1", url=first.url.replace("https:", "http:"), title=first.title,
                detected_at=now, canonical_url=first.canonical_url, content_hash="other")
    result = await store.ingest(copy, now, "detected", [], now)
    assert (result.status, result.matched_by) == ("duplicate", "url")
    return flagged, first.id


async def test_status_metrics_and_report_count_possible_duplicates(tmp_path, clock, serve) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        hub = d.hub
        before = await collect_status(hub.store, hub.settings, hub.calendar, hub.clock)
        _flagged, item_id = await flag_and_merge(hub)
        status = await collect_status(hub.store, hub.settings, hub.calendar, hub.clock)
        metrics = await render_metrics(hub.store, hub.settings, hub.calendar, hub.clock, hub.supervisor, hub.dispatcher,
                                   hub.verifier, hub.refusals)
        month = f"{hub.clock.now().astimezone(hub.settings.deadlines.tz):%Y-%m}"
        rows = await monthly_report(hub.store, month, hub.calendar, hub.settings.deadlines)
    assert before["possible_duplicates"] == 0 and status["possible_duplicates"] == 2
    assert status["merged_copies"]["count"] == 1
    (merge,) = status["merged_copies"]["recent"]
    assert (merge["item_id"], merge["first_source"], merge["merged_source"], merge["matched_by"]) == \
        (item_id, "gwy", "hubei", "url")
    assert re.search(r"^syndicator_deliveries_possible_duplicate 2\.0$", metrics, re.MULTILINE)
    assert re.search(r"^syndicator_items_merged_copies 1\.0$", metrics, re.MULTILINE)
    assert sum(r["possible_duplicate"] for r in rows) == 2    # both flagged deliveries fall in this month
    text = format_report(rows, "md", month=month)
    assert "可能重复 2 条" in text and "| 可能重复 |" in text and "可能重复 = " in REPORT_DEFINITIONS
    csv_text = format_report(rows, "csv", month=month)
    header = csv_text.splitlines()[1].split(",")
    dup = header.index("可能重复")     # then the baselines, then the verification counts (docs/verification.md)
    assert REPORT_COLUMNS[dup] == "可能重复" and header[dup + 1] == "基线（未纳入考核）"
    assert tuple(header[dup + 2:]) == VERIFY_COLUMNS


async def test_dashboard_shows_counts_filter_and_merges(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        flagged, item_id = await flag_and_merge(d.hub)
        await login(http, d.base)
        _s, overview = await get(http, f"{d.base}/")
        _s, filtered = await get(http, f"{d.base}/deliveries?state=all&dup=1")
        _s, everything = await get(http, f"{d.base}/deliveries?state=all&item={item_id}")
        _s, report = await get(http, f"{d.base}/report?month={d.hub.clock.now():%Y-%m}")
    assert re.search(r'<div class="n">2</div><div class="l">可能重复（需核对）</div>', overview)
    assert "跨来源合并（共 1 次" in overview and "链接相同" in overview and "hubei" in overview
    row_id = r'<td[^>]*class="num"><a href="/delivery/\d+">(\d+)</a></td><td[^>]*class="title">'
    shown = [int(n) for n in re.findall(row_id, filtered)]
    assert sorted(shown) == sorted(flagged) and "仅可能重复" in filtered
    assert "另见来源 hubei（链接相同，已合并为同一稿件）" in everything
    assert "可能重复" in report and "可能重复 2 条" in report
