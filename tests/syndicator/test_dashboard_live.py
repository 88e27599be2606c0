"""Live pages (syndicator.dashboard.live): the server-sent-events stream behind the login, an event after a
delivery changes state, heartbeats, the stream limit, a failed read shown as trouble, a client leaving and
a server shutting down; and in Chromium, the overview changing without a reload."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from core.clock import FakeClock
from syndicator.app import Hub
from syndicator.config import DashboardSettings
from syndicator.dashboard import setup_dashboard
from syndicator.dashboard.live import LIVE, LiveFeed
from syndicator.passwords import hash_password
from tests.dashboard_support import PASSWORD, dashboard, dashboard_settings, login, seed
from tests.syndicator.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS


def december() -> FakeClock:
    return FakeClock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))


def quick(feed: LiveFeed) -> None:
    feed.interval, feed.check, feed.heartbeat = 0.05, 0.05, 60.0


async def next_event(resp: aiohttp.ClientResponse, within: float = 5.0) -> tuple[str, str]:
    """(event name, data) of the next event; a comment line comes back as ("comment", text)."""
    name, data = "", []
    async with asyncio.timeout(within):
        while True:
            line = (await resp.content.readline()).decode("utf-8")
            if not line:
                return "eof", ""
            line = line.rstrip("\n")
            if line.startswith(":"):
                return "comment", line[1:].strip()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                return name, "\n".join(data)


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


async def test_the_stream_needs_a_login(tmp_path, serve) -> None:
    async with dashboard(tmp_path, december(), serve) as d, aiohttp.ClientSession() as anonymous, \
            anonymous.get(f"{d.base}/live/events", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].startswith("/login")
        assert d.app[LIVE].streams == 0


async def test_a_state_change_is_announced(tmp_path, serve, http) -> None:
    clock = december()
    async with dashboard(tmp_path, clock, serve) as d:
        feed = d.app[LIVE]
        quick(feed)
        await login(http, d.base)
        async with http.get(f"{d.base}/live/events") as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert await next_event(resp) == ("hello", "10:00:00")
            assert feed.streams == 1
            await asyncio.sleep(0.2)                       # the watcher has read the marks at least once
            clock.advance(7)
            await d.hub.store.mark_delivered(d.ids["failed"], clock.now(), "x1", "https://example.gov.cn/1")
            assert await next_event(resp) == ("change", "10:00:07")


async def test_nothing_changed_means_only_heartbeats(tmp_path, serve, http) -> None:
    async with dashboard(tmp_path, december(), serve) as d:
        feed = d.app[LIVE]
        quick(feed)
        feed.heartbeat = 0.2
        await login(http, d.base)
        async with http.get(f"{d.base}/live/events") as resp:
            assert (await next_event(resp))[0] == "hello"
            assert await next_event(resp) == ("comment", "keep-alive")
            assert await next_event(resp) == ("comment", "keep-alive")


async def test_a_failed_read_is_shown_not_swallowed(tmp_path, serve, http) -> None:
    async with dashboard(tmp_path, december(), serve) as d:
        feed = d.app[LIVE]
        quick(feed)

        async def broken() -> None:
            raise ConnectionError("database is gone")
        feed.marks = broken
        await login(http, d.base)
        async with http.get(f"{d.base}/live/events") as resp:
            assert (await next_event(resp))[0] == "hello"
            name, data = await next_event(resp)
            assert name == "trouble" and "可能不是最新" in data
            feed.marks = d.hub.store.change_marks             # the database is back: the page refreshes
            assert (await next_event(resp))[0] == "change"


async def test_streams_are_bounded_and_end_when_the_client_leaves(tmp_path, serve, http) -> None:
    async with dashboard(tmp_path, december(), serve) as d:
        feed = d.app[LIVE]
        quick(feed)
        feed.max_streams = 1
        await login(http, d.base)
        first = await http.get(f"{d.base}/live/events")
        assert (await next_event(first))[0] == "hello"
        async with http.get(f"{d.base}/live/events") as second:
            assert second.status == 503 and "过多" in await second.text()
        first.close()                                      # the page was closed
        async with asyncio.timeout(5):
            while feed.streams:  # noqa: ASYNC110  (the count is the thing under test)
                await asyncio.sleep(0.02)
        async with http.get(f"{d.base}/live/events") as third:   # the slot is free again
            assert third.status == 200 and (await next_event(third))[0] == "hello"


async def test_shutdown_ends_every_stream_at_once(tmp_path) -> None:
    clock = december()
    async with Hub(dashboard_settings(tmp_path), clock=clock) as hub:
        await seed(hub, clock)
        app = hub.web_app()
        setup_dashboard(app, DashboardSettings(users={"operator": hash_password(PASSWORD, iterations=1000)}))
        feed = app[LIVE]
        feed.interval, feed.check, feed.heartbeat = 0.05, 5.0, 60.0      # a client is checked only every 5 s
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, base)
            streams = [await http.get(f"{base}/live/events") for _ in range(3)]
            for s in streams:
                assert (await next_event(s))[0] == "hello"
            started = time.monotonic()
            await server.close()                           # the runner's cleanup: on_shutdown ends the streams
            assert time.monotonic() - started < 3
            for s in streams:
                assert (await next_event(s))[0] == "bye"
                s.close()
        assert feed.streams == 0 and feed.closing.is_set()


async def test_the_script_is_served_and_the_pages_mark_their_live_regions(tmp_path, serve, http) -> None:
    async with dashboard(tmp_path, december(), serve) as d:
        async with http.get(f"{d.base}/static/live.js") as resp:
            assert resp.status == 200 and resp.content_type == "text/javascript"
            assert "EventSource" in await resp.text()
        await login(http, d.base)
        pages = {"/": ("banners", "counts", "units", "due", "alerts"), "/deliveries": ("list", "accounts")}
        for path, regions in pages.items():
            async with http.get(d.base + path) as resp:
                body = await resp.text()
            assert '<script src="/static/live.js" defer></script>' in body
            assert "更新于 10:00:00（北京时间）" in body and 'data-live-stamp="/live/events"' in body
            for region in regions:
                assert f'data-live="{region}"' in body, (path, region)


# ---------------------------------------------------------------- in a browser


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}")
async def test_the_overview_changes_without_a_reload_in_chromium(tmp_path, serve) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    expect = playwright_api.expect
    clock = december()
    async with dashboard(tmp_path, clock, serve) as d, playwright_api.async_playwright() as pw:
        quick(d.app[LIVE])
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            await page.goto(f"{d.base}/login")
            await page.fill("input[name=username]", "operator")
            await page.fill("input[name=password]", PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{d.base}/")
            stamp = page.locator("[data-live-stamp]")
            await expect(stamp).to_have_text("更新于 10:00:00（北京时间）")
            failed_card = page.locator("[data-live=counts] .card", has_text="失败待处理").locator(".n")
            delivered_card = page.locator("[data-live=counts] .card", has_text="已发布").locator(".n")
            await expect(failed_card).to_have_text("1")
            delivered = int(await delivered_card.inner_text())
            await page.evaluate("window.__notReloaded = true")
            await page.wait_for_timeout(300)               # the stream is open and the marks were read once

            clock.advance(42)
            await d.hub.store.mark_delivered(d.ids["failed"], clock.now(), "x1", "https://example.gov.cn/1")

            await expect(failed_card).to_have_text("0", timeout=10_000)
            await expect(delivered_card).to_have_text(str(delivered + 1))
            await expect(stamp).to_have_text("更新于 10:00:42（北京时间）")
            assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
            assert not problems, problems                  # no CSP violation, no script error
        finally:
            await browser.close()
