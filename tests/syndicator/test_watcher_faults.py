"""The watcher against upstream faults that used to hide or stall a source: hung fetches, huge
Retry-After values, long outages, a dead article link, changed article bodies, a failing later
list page, and an HTML list whose layout changed. The clock is a FakeClock; polls are started
with start_due / Watcher.run, and nothing waits on the wall clock beyond a few ticks."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core.clock import SHANGHAI, FakeClock
from core.fetch import FetchError, FetchResult
from feeds.model import Entry
from feeds.reader import SourceReader
from feeds.specs import RuleSpec
from syndicator.app import Hub
from syndicator.store import IngestResult
from syndicator.watcher import MAX_DELAY_SECONDS, backoff_seconds
from tests.hub_support import hub_settings

# ---------------------------------------------------------------- backoff arithmetic


def test_backoff_doubles_to_its_cap_and_never_overflows() -> None:
    assert [backoff_seconds(60.0, n, 3600) for n in (1, 2, 3, 6, 7)] == [60, 120, 240, 1920, 3600]
    assert backoff_seconds(60.0, 1_025, 3600) == 3600                # 60.0 × 2**1024 overflows a float
    assert backoff_seconds(60.0, 100_000, 3600) == 3600


@pytest.mark.parametrize(("retry_after", "expected"), [
    (120.0, 120.0), (10.0, 60.0), (365 * 86400.0, 3600.0), (1e12, 3600.0), (math.inf, 60.0), (math.nan, 60.0),
])
def test_retry_after_is_honoured_up_to_the_cap(retry_after: float, expected: float) -> None:
    assert backoff_seconds(60, 1, 3600, retry_after) == expected


def test_a_huge_configured_cap_still_gives_a_representable_time() -> None:
    assert backoff_seconds(60, 10_000, 1e15) == MAX_DELAY_SECONDS


# ---------------------------------------------------------------- a scripted upstream (no sockets)


@dataclass
class Scripted:
    """A PageFetcher answering from a table: a FetchResult, an exception, or "hang" (never answers)."""

    pages: dict[str, Any] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    async def fetch(self, url: str, **_: Any) -> FetchResult:
        self.hits[url] += 1
        answer = self.pages.get(url, FetchError(f"{url}: HTTP 404", url=url, status=404))
        if answer == "hang":
            await asyncio.Event().wait()
        if isinstance(answer, Exception):
            raise answer
        return answer


def html_result(url: str, text: str) -> FetchResult:
    return FetchResult(url=url, status=200, body=text.encode(), text=text, encoding="utf-8",
                       content_type="text/html; charset=utf-8")


LIST = "https://www.gov.cn/zhengce/zuixin/"
HTML_SOURCE = {"id": "zuixin", "name": "最新政策", "kind": "html", "url": LIST, "interval": 60,
               "html": {"item": "ul.list li", "link": "a", "date": "span"},
               "article": {"body": ["div.TRS_UEDITOR"], "date_meta": ["firstpublishedtime"]}}


def list_page(rows: list[tuple[int, str, str]]) -> str:
    items = "".join(f'<li><a href="/zhengce/content/{n}.htm">{t}</a><span>{d}</span></li>' for n, t, d in rows)
    return f'<html><head><title>最新政策</title></head><body><ul class="list">{items}</ul></body></html>'


def article_page(n: int, body: str) -> str:
    return ('<html><head><meta name="firstpublishedtime" content="2026-11-25-09:30:00"></head><body>'
            f'<div class="TRS_UEDITOR"><p>{body}</p></div></body></html>')


def article_url(n: int) -> str:
    return f"https://www.gov.cn/zhengce/content/{n}.htm"


async def scripted_hub(tmp_path: Path, clock: FakeClock, source: dict[str, Any], **fetch: Any) -> tuple[Hub, Scripted]:
    settings = hub_settings(tmp_path, sources=[source], units=[], tick_seconds=0.01)
    for name, value in fetch.items():
        setattr(settings.fetch, name, value)
    hub = Hub(settings, clock=clock)
    await hub.__aenter__()
    upstream = Scripted()
    hub.watcher.reader = SourceReader(upstream, lambda: upstream)
    return hub, upstream


def record_outcomes(hub: Hub) -> list[tuple[str, str, IngestResult]]:
    seen: list[tuple[str, str, IngestResult]] = []
    accept = hub.intake.accept

    async def spy(source: Any, entry: Any, rule: Any) -> IngestResult:
        result = await accept(source, entry, rule)
        seen.append((result.status, entry.url, result))
        return result

    hub.intake.accept = spy  # type: ignore[method-assign]
    return seen


async def poll_due(hub: Hub) -> None:
    for task in await hub.watcher.start_due():
        await task


# ---------------------------------------------------------------- deadlines and backoff through the watcher


@pytest.mark.parametrize("fetch_mode", ["http", "browser"])
async def test_a_hung_list_fetch_is_a_recorded_failure(tmp_path: Path, clock: FakeClock, fetch_mode: str) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, {**HTML_SOURCE, "fetch": fetch_mode}, timeout_seconds=0.02)
    try:
        upstream.pages[LIST] = "hang"
        await asyncio.wait_for(poll_due(hub), 5)           # the poll ends by itself, well inside this
        health = await hub.store.source_health("zuixin")
        assert health.consecutive_errors == 1 and "本轮检查超过时限" in (health.last_error or "")
        assert LIST in (health.last_error or "")
        assert health.next_check_at == clock.now() + timedelta(seconds=60)
        assert hub.watcher._busy == set()                  # polled again once due
        upstream.pages[LIST] = html_result(LIST, list_page([(1, "国务院关于甲的通知", "2026-11-25")]))
        upstream.pages[article_url(1)] = html_result(article_url(1), article_page(1, "正文甲"))
        clock.advance(61)
        await poll_due(hub)
        assert (await hub.store.source_health("zuixin")).consecutive_errors == 0
    finally:
        await hub.__aexit__(None, None, None)


async def test_a_hung_article_fetch_counts_against_that_article(tmp_path: Path, clock: FakeClock) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, HTML_SOURCE, timeout_seconds=0.02)
    try:
        upstream.pages[LIST] = html_result(LIST, list_page([(1, "国务院关于甲的通知", "2026-11-25")]))
        upstream.pages[article_url(1)] = "hang"
        await asyncio.wait_for(poll_due(hub), 5)
        health = await hub.store.source_health("zuixin")
        assert health.consecutive_errors == 1 and "文章页读取失败，首个：本轮检查超过时限" in (health.last_error or "")
        assert article_url(1) in (health.last_error or "")
    finally:
        await hub.__aexit__(None, None, None)


@pytest.mark.parametrize("retry_after", [math.inf, 1e12, 365 * 86400.0])
async def test_huge_retry_after_is_clamped_and_health_is_saved(tmp_path: Path, clock: FakeClock,
                                                               retry_after: float) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, HTML_SOURCE)
    try:
        upstream.pages[LIST] = FetchError(f"{LIST}: HTTP 503", url=LIST, status=503, retry_after=retry_after)
        await poll_due(hub)
        health = await hub.store.source_health("zuixin")
        cap = hub.settings.fetch.backoff_cap_seconds
        assert health.consecutive_errors == 1 and "HTTP 503" in (health.last_error or "")
        expected = 60 if math.isinf(retry_after) else cap
        assert health.next_check_at == clock.now() + timedelta(seconds=expected)
    finally:
        await hub.__aexit__(None, None, None)


async def test_a_long_outage_backs_off_to_the_cap(tmp_path: Path, clock: FakeClock) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, HTML_SOURCE)
    try:
        upstream.pages[LIST] = FetchError(f"{LIST}: HTTP 500", url=LIST, status=500)
        health = await hub.store.source_health("zuixin")
        health.consecutive_errors = 1_025                  # ~ten days of errors at the cap
        health.failing_since = clock.now() - timedelta(days=10)
        await hub.store.save_source_health(health)
        await poll_due(hub)
        health = await hub.store.source_health("zuixin")
        assert health.consecutive_errors == 1_026
        assert health.next_check_at == clock.now() + timedelta(seconds=hub.settings.fetch.backoff_cap_seconds)
    finally:
        await hub.__aexit__(None, None, None)


# ---------------------------------------------------------------- article pages: dead links, rechecks


async def test_a_dead_article_link_is_stored_from_its_list_entry_after_three_polls(tmp_path: Path,
                                                                                   clock: FakeClock) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, HTML_SOURCE)
    outcomes = record_outcomes(hub)
    try:
        text = list_page([(1, "国务院关于甲的通知", "2026-11-25"), (2, "国务院关于乙的通知", "2026-11-24")])
        upstream.pages[LIST] = html_result(LIST, text)
        upstream.pages[article_url(1)] = html_result(article_url(1), article_page(1, "正文甲"))
        for attempt in (1, 2):
            await poll_due(hub)
            health = await hub.store.source_health("zuixin")
            assert health.consecutive_errors == attempt and article_url(2) in (health.last_error or "")
            assert health.body_hash is None                # the list is read again next time
            clock.advance(seconds=(health.next_check_at - clock.now()).total_seconds())
        await poll_due(hub)                                # third failure: stored from the list
        health = await hub.store.source_health("zuixin")
        assert health.consecutive_errors == 0 and health.last_success_at == clock.now()
        assert (health.last_error or "").startswith("提示：文章页 " + article_url(2))
        assert health.body_hash is not None
        created = {url: r for status, url, r in outcomes if status == "created"}
        assert set(created) == {article_url(1), article_url(2)}
        item = await hub.store.get_item(created[article_url(2)].item_id)
        assert item is not None and item.title == "国务院关于乙的通知" and item.content == ""
        assert item.published_at == datetime(2026, 11, 24, tzinfo=SHANGHAI)
        assert upstream.hits[article_url(2)] == 3
        clock.advance(61)
        await poll_due(hub)                                # same list: nothing re-parsed or re-fetched
        assert upstream.hits[article_url(2)] == 3 and not hub.watcher._busy
        assert (await hub.store.source_health("zuixin")).consecutive_errors == 0
        assert not [a for a in await hub.store.recent_alerts() if "持续失败" in a["message"]]
    finally:
        await hub.__aexit__(None, None, None)


async def test_changed_article_bodies_are_found_politely(tmp_path: Path, clock: FakeClock) -> None:
    hub, upstream = await scripted_hub(tmp_path, clock, HTML_SOURCE)
    outcomes = record_outcomes(hub)
    try:
        rows = [(1, "国务院关于甲的通知", "2026-11-25"), (2, "国务院关于乙的通知", "2026-11-24")]
        upstream.pages[LIST] = html_result(LIST, list_page(rows))
        for n in (1, 2):
            upstream.pages[article_url(n)] = html_result(article_url(n), article_page(n, f"正文{n}第一稿"))
        await poll_due(hub)
        ids = {url: r.item_id for status, url, r in outcomes if status == "created"}
        assert len(ids) == 2
        upstream.pages[article_url(1)] = html_result(article_url(1), article_page(1, "正文1更正稿"))

        async def poll_after(seconds: float) -> Counter[str]:
            before = Counter(upstream.hits)
            clock.advance(seconds)
            await poll_due(hub)
            return upstream.hits - before

        assert not {u for u in await poll_after(61) if u != LIST}   # within recheck_hours: list only
        fetched = await poll_after(12 * 3600)               # due: one article, the longest unchecked
        assert [u for u in fetched if u != LIST] == [article_url(1)]
        item = await hub.store.get_item(ids[article_url(1)])
        assert item is not None and "更正稿" in item.content and item.version == 2
        fetched = await poll_after(61)                      # next poll: the other one
        assert [u for u in fetched if u != LIST] == [article_url(2)]
        assert not {u for u in await poll_after(61) if u != LIST}    # then quiet again
        rows[1] = (2, "国务院关于乙的通知（修订）", "2026-11-24")      # the list shows a change
        upstream.pages[LIST] = html_result(LIST, list_page(rows))
        upstream.pages[article_url(2)] = html_result(article_url(2), article_page(2, "正文2修订稿"))
        fetched = await poll_after(61)
        assert [u for u in fetched if u != LIST] == [article_url(2)]
        item = await hub.store.get_item(ids[article_url(2)])
        assert item is not None and item.title == "国务院关于乙的通知（修订）" and "修订稿" in item.content
    finally:
        await hub.__aexit__(None, None, None)


async def test_known_entries_of_an_rss_source_with_article_pages_are_not_false_updates(
        tmp_path: Path, clock: FakeClock) -> None:
    feed_url = "https://www.gov.cn/rss.xml"
    source = {"id": "rss", "name": "RSS", "kind": "rss", "url": feed_url, "interval": 60,
              "article": {"body": ["div.TRS_UEDITOR"], "recheck_hours": 0}}
    hub, upstream = await scripted_hub(tmp_path, clock, source)
    outcomes = record_outcomes(hub)

    def feed(summary: str, extra_item: str = "") -> FetchResult:
        text = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
                f"<item><title>国务院关于甲的通知</title><link>{article_url(1)}</link>"
                f"<description>{summary}</description></item>{extra_item}</channel></rss>")
        return FetchResult(url=feed_url, status=200, body=text.encode(), text=text, content_type="application/xml")

    try:
        upstream.pages[feed_url] = feed("摘要")
        upstream.pages[article_url(1)] = html_result(article_url(1), article_page(1, "完整正文与摘要不同"))
        await poll_due(hub)
        upstream.pages[feed_url] = feed("摘要", "<item><title>另一条</title><link>https://www.gov.cn/b.htm</link></item>")
        upstream.pages["https://www.gov.cn/b.htm"] = html_result("https://www.gov.cn/b.htm", article_page(2, "乙"))
        clock.advance(61)
        await poll_due(hub)
        assert [(s, u) for s, u, _ in outcomes] == [
            ("created", article_url(1)), ("seen", article_url(1)), ("created", "https://www.gov.cn/b.htm")]
    finally:
        await hub.__aexit__(None, None, None)


# ---------------------------------------------------------------- pagination


async def test_a_failing_second_list_page_keeps_the_first(tmp_path: Path, clock: FakeClock) -> None:
    source = {**HTML_SOURCE, "html": {**HTML_SOURCE["html"], "next_page": "a.next", "pages": 2}}
    hub, upstream = await scripted_hub(tmp_path, clock, source)
    outcomes = record_outcomes(hub)
    try:
        page2 = LIST + "index_1.htm"
        first = list_page([(1, "国务院关于甲的通知", "2026-11-25")]).replace(
            "</body>", '<a class="next" href="index_1.htm">下一页</a></body>')
        upstream.pages[LIST] = html_result(LIST, first)
        upstream.pages[page2] = FetchError(f"{page2}: HTTP 502", url=page2, status=502)
        for n in (1, 2):
            upstream.pages[article_url(n)] = html_result(article_url(n), article_page(n, f"正文{n}"))
        await poll_due(hub)
        health = await hub.store.source_health("zuixin")
        assert health.consecutive_errors == 0                      # a warning, not a failure
        assert (health.last_error or "").startswith("提示：第 2 页列表读取失败") and "（HTTP 502）" in health.last_error
        assert health.body_hash is None                            # so the next poll reads page 2 again
        assert [u for s, u, _ in outcomes if s == "created"] == [article_url(1)]
        upstream.pages[page2] = html_result(page2, list_page([(2, "国务院关于乙的通知", "2026-11-20")]))
        clock.advance(61)
        await poll_due(hub)
        assert [u for s, u, _ in outcomes if s == "created"] == [article_url(1), article_url(2)]
        assert (await hub.store.source_health("zuixin")).body_hash is not None
    finally:
        await hub.__aexit__(None, None, None)


# ---------------------------------------------------------------- an HTML source misbehaving, through Watcher.run


def html_site() -> tuple[web.Application, dict[str, str], Counter[str]]:
    mode = {"now": "ok"}
    hits: Counter[str] = Counter()
    rows = [(7100001, "国务院关于甲的通知", "2026-11-25"), (7100002, "国务院关于乙的通知", "2026-11-24")]

    async def listing(request: web.Request) -> web.StreamResponse:
        hits["list"] += 1
        m = mode["now"]
        if m == "500":
            return web.Response(status=500, text="Internal Server Error")
        if m == "412":
            return web.Response(status=412, text="<script>document.cookie='x=1';location.reload()</script>")
        if m == "layout":                      # a redesign: the list is now a table
            return web.Response(text='<html><head><title>最新政策_中国政府网</title></head><body><table>'
                                     '<tr><td><a href="/a.htm">甲</a></td></tr></table></body></html>',
                                content_type="text/html")
        if m == "empty":                       # a quiet column: the list is there, with nothing in it
            return web.Response(text='<html><body><ul class="list"></ul></body></html>', content_type="text/html")
        text = list_page(rows).replace("/zhengce/content/", f"{request.scheme}://{request.host}/zhengce/content/")
        etag = '"' + hashlib.sha1(text.encode()).hexdigest()[:12] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(text=text, content_type="text/html", headers={"ETag": etag})

    async def article(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        hits[f"article-{n}"] += 1
        return web.Response(text=article_page(n, f"第{n}号正文"), content_type="text/html")

    app = web.Application()
    app.router.add_get("/zhengce/zuixin/", listing)
    app.router.add_get("/zhengce/content/{n:\\d+}.htm", article)
    return app, mode, hits


@pytest.mark.parametrize(("mode", "error_fragment"), [
    ("500", "内部出错（HTTP 500）"), ("412", "要求先通过浏览器校验（HTTP 412）"),
    ("layout", "item selector 'ul.list li' matched nothing"),
])
async def test_misbehaving_html_source_through_watcher_run(serve, tmp_path: Path, clock: FakeClock, mode: str,
                                                           error_fragment: str) -> None:
    app, site_mode, hits = html_site()
    base = await serve(app)
    source = {**HTML_SOURCE, "url": f"{base}/zhengce/zuixin/"}
    settings = hub_settings(tmp_path, sources=[source], units=[], tick_seconds=0.01)
    settings.fetch.timeout_seconds = 2
    stop = asyncio.Event()
    async with Hub(settings, clock=clock) as hub:
        outcomes = record_outcomes(hub)
        running = asyncio.create_task(hub.watcher.run(stop))

        async def next_poll(expect: str) -> Any:
            """Let the clock reach the next check, then wait (a few ticks) for that poll's record."""
            health = await hub.store.source_health("zuixin")
            if health.next_check_at is not None:
                clock.set(max(clock.now(), health.next_check_at))
            for _ in range(500):
                health = await hub.store.source_health("zuixin")
                stamp = health.last_error_at if expect == "error" else health.last_success_at
                if stamp == clock.now() and not hub.watcher._busy:
                    return health
                await asyncio.sleep(0.01)
            raise AssertionError(f"no {expect} recorded: {health}")

        try:
            site_mode["now"] = mode
            health = await next_poll("error")
            assert health.consecutive_errors == 1 and error_fragment in (health.last_error or "")
            assert source["url"] in (health.last_error or "")
            site_mode["now"] = "empty"                         # an empty but intact list is healthy
            health = await next_poll("success")
            assert health.consecutive_errors == 0 and not outcomes
            site_mode["now"] = "ok"
            clock.advance(61)
            health = await next_poll("success")
            assert sorted(r.status for _s, _u, r in outcomes) == ["created", "created"]
            assert hits["article-7100001"] == hits["article-7100002"] == 1
            clock.advance(61)
            await next_poll("success")                         # 304: nothing parsed, no article fetched
            assert hits["article-7100001"] == 1 and len(outcomes) == 2
            items = [await hub.store.get_item(r.item_id) for _s, _u, r in outcomes]
            assert sorted(i.title for i in items if i) == ["国务院关于乙的通知", "国务院关于甲的通知"]
            assert all(i and "号正文" in i.content for i in items)
        finally:
            stop.set()
            await asyncio.wait_for(running, 5)


async def test_same_title_notices_without_body_text_stay_separate_items(tmp_path: Path, clock: FakeClock) -> None:
    """A periodic 任免 notice is often one scanned image under the same title each time."""
    hub, _ = await scripted_hub(tmp_path, clock, HTML_SOURCE)
    try:
        (source,) = hub.settings.sources
        results = []
        for n in (1, 2):
            entry = Entry(url=article_url(n), title="国务院任免国家工作人员",
                          content=f'<p><img src="https://www.gov.cn/images/renmian{n}.png"></p>')
            results.append(await hub.intake.accept(source, entry, RuleSpec()))
        assert [r.status for r in results] == ["created", "created"]
        assert results[0].item_id != results[1].item_id
        again = await hub.intake.accept(source, Entry(url=article_url(1), title="国务院任免国家工作人员",
                                                      content='<p><img src="https://www.gov.cn/images/renmian1.png"></p>'),
                                        RuleSpec())
        assert again.status == "seen"                      # stable for the same page: no false update
    finally:
        await hub.__aexit__(None, None, None)
