"""BrowserFetcher gets through a 412 JavaScript bot gate that stops a plain HTTP client.

The gate tests need Debian's Chromium (apt-get install chromium) and the playwright package and
are skipped otherwise — except in CI (environment variable CI set), where a missing browser must
fail them loudly: CI has to prove the bot-gate path. The missing-dependency messages are tested
everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.fetch import FetchError
from feeds.browser import CHROMIUM, CLOSE_TIMEOUT, BrowserFetcher, BrowserUnavailable, is_browser_user_agent
from feeds.html_list import next_page_url, parse_html_list
from feeds.json_list import parse_json_list
from feeds.specs import HtmlListSpec, JsonListSpec
from sandbox.govsite import GOVSITE, add_govsite_routes
from sandbox.upstream import UPSTREAM, build_app
from syndicator.config import FetchSettings
from tests.paths import ROOT_DIR


def _playwright_missing() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return True
    return False


def browser_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marked ``browser``; skipped, saying what to install, without Chromium or playwright (in CI
    they run regardless, and fail with the same words)."""
    if not os.environ.get("CI"):
        func = pytest.mark.skipif(_playwright_missing(), reason="browser tests need the playwright package")(func)
        no_chromium = f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium"
        func = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=no_chromium)(func)
    return pytest.mark.browser(func)

# The shipped Hubei preset's list spec (hbgov-newslist / bfc-block items, pageControl pager).
HUBEI = HtmlListSpec.model_validate(tomllib.loads(
    (ROOT_DIR / "config" / "sources" / "hubei.toml").read_text("utf-8"))["sources"][0]["html"])


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = build_app()
    add_govsite_routes(app)
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    for i in range(12):
        app[UPSTREAM].publish(f"湖北省人民政府关于第{i}号示范事项的通知（湉）", feeds={"province", "gwy"},
                              published_at=t0 - timedelta(hours=6 * i))
    srv = TestServer(app)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def browser() -> AsyncIterator[BrowserFetcher]:
    fetcher = BrowserFetcher(timeout=15)
    yield fetcher
    await fetcher.close()


@browser_test
async def test_plain_client_is_stopped_but_browser_passes(server: TestServer, browser: BrowserFetcher) -> None:
    url = str(server.make_url("/gated/zfwj/ezf/index.shtml"))
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 412
        assert "湖北省人民政府关于" not in await resp.text()

    result = await browser.fetch(url)
    assert result.status == 200 and result.url == url
    # served as GBK; Chromium decoded it (meta charset) and hands the document back as UTF-8
    assert result.encoding == "utf-8" and "第0号示范事项的通知（湉）" in result.body.decode("utf-8")
    assert '<a aria-label="Next" href="index_1.shtml">' not in result.body.decode("utf-8")   # source, not DOM
    entries = parse_html_list(result.text, result.url, HUBEI)
    assert len(entries) == 10 and entries[0].title == "湖北省人民政府关于第0号示范事项的通知（湉）"
    assert entries[0].url.startswith(str(server.make_url("/gated/zfwj/ezf/202611/t20261125_")))
    assert '<a aria-label="Next" href="index_1.shtml">' in result.text   # the rendered DOM: the pager script ran
    assert next_page_url(result.text, result.url, HUBEI) == str(server.make_url("/gated/zfwj/ezf/index_1.shtml"))
    state = server.app[GOVSITE]
    assert state.challenges == 2 and state.passes == 1      # the plain client's 412 and the browser's one

    # cookies are kept: the next pages and articles need no new challenge
    second = await browser.fetch(str(server.make_url("/gated/zfwj/ezf/index_1.shtml")))
    assert len(parse_html_list(second.text, second.url, HUBEI)) == 2
    article = await browser.fetch(entries[0].url)
    assert "TRS_UEDITOR" in article.text
    assert state.challenges == 2 and state.passes == 3 and browser.contexts_started == 1


@browser_test
async def test_fresh_context_when_cookies_stop_working(server: TestServer, browser: BrowserFetcher) -> None:
    url = str(server.make_url("/gated/zfwj/ezf/index.shtml"))
    await browser.fetch(url)
    state = server.app[GOVSITE]
    state.revoke()                    # the site no longer accepts our clearance ...
    state.stall_next = 1              # ... and the next challenge cannot be solved in that context
    browser.timeout = 3
    result = await browser.fetch(url)
    assert result.status == 200 and browser.contexts_started == 2
    assert state.challenges == 3


@browser_test
async def test_json_behind_a_user_agent_firewall(server: TestServer, browser: BrowserFetcher) -> None:
    url = str(server.make_url("/search-gov/data?t=zhengcelibrary&q=示范&sort=pubtime&sortType=1&p=1&n=5"))
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 403
    result = await browser.fetch(url)
    assert result.text.lstrip().startswith("{")               # decoded body, not Chromium's JSON viewer
    spec = JsonListSpec(list_path="searchVO.catMap.gongwen.listVO", date="pubtimeStr", date_fallback=["ptime"])
    entries = parse_json_list(result.text, result.url, spec)
    assert len(entries) == 5 and "<em>" not in entries[0].title


@browser_test
async def test_http_errors_and_bad_urls_are_fetch_errors(server: TestServer, browser: BrowserFetcher) -> None:
    with pytest.raises(FetchError) as info:
        await browser.fetch(str(server.make_url("/gated/zfwj/ezf/index_9.shtml")))
    assert info.value.status == 404 and "index_9.shtml" in str(info.value)
    with pytest.raises(FetchError, match="127.0.0.1:9"):
        await browser.fetch("http://127.0.0.1:9/unreachable")


async def test_missing_chromium_is_a_clear_error() -> None:
    fetcher = BrowserFetcher(executable_path="/nonexistent/chromium")
    try:
        with pytest.raises(BrowserUnavailable, match="apt-get install chromium") as info:
            await fetcher.fetch("http://127.0.0.1/list.shtml")
        assert info.value.url == "http://127.0.0.1/list.shtml"
    finally:
        await fetcher.close()


async def test_missing_playwright_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)      # import now raises ImportError
    fetcher = BrowserFetcher()
    with pytest.raises(BrowserUnavailable, match=r"needs the playwright package .*apt-get install chromium"):
        await fetcher.fetch("http://127.0.0.1/list.shtml")
    await fetcher.close()


# ---------------------------------------------------------------- the HTTP fetcher's limits, in browser mode


@pytest.fixture
async def tricky() -> AsyncIterator[tuple[TestServer, dict[str, Any]]]:
    seen: dict[str, Any] = {"user_agents": [], "active": 0, "max_active": 0, "hold": 0.2, "expect": 0,
                            "together": asyncio.Event()}
    page = "<html><head><meta charset=utf-8></head><body><ul class=list-t><li><a href='/a'>甲</a></li></ul>"

    async def busy(request: web.Request) -> web.Response:        # spins for ever once loaded
        return web.Response(text=page + "<script>addEventListener('load',()=>setTimeout(()=>{for(;;){}},0))"
                                        "</script></body></html>", content_type="text/html")

    async def grow(request: web.Request) -> web.Response:        # small as served, 3 MB once rendered
        return web.Response(text="<html><body><script>for(let i=0;i<3000;i++){document.body.insertAdjacentHTML("
                                 "'beforeend','<p>'+'y'.repeat(1000)+'</p>')}</script></body></html>",
                            content_type="text/html")

    async def big(request: web.Request) -> web.StreamResponse:   # chunked: no Content-Length to refuse early
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        for _ in range(30):
            await resp.write(b"x" * 10_000)
        return resp

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n > 0:
            raise web.HTTPFound(f"/hop/{n - 1}")
        return web.Response(text=page + "</body></html>", content_type="text/html")

    async def to_file(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    async def counted(request: web.Request) -> web.Response:
        seen["user_agents"].append(request.headers.get("User-Agent", ""))
        seen["active"] += 1
        seen["max_active"] = max(seen["max_active"], seen["active"])
        if seen["expect"] and seen["active"] >= seen["expect"]:
            seen["together"].set()
        # held until the expected number are in at once (or ``hold`` s): overlap must not depend on how fast
        # a loaded machine gets the three tabs going
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen["together"].wait(), seen["hold"])
        seen["active"] -= 1
        return web.Response(text=page + "</body></html>", content_type="text/html")

    app = web.Application()
    for path, handler in (("/busy", busy), ("/grow", grow), ("/big", big), ("/hop/{n}", hop), ("/to-file", to_file),
                          ("/counted", counted)):
        app.router.add_get(path, handler)
    srv = TestServer(app)
    await srv.start_server()
    yield srv, seen
    await srv.close()


@browser_test
async def test_a_page_that_spins_after_load_is_a_timely_fetch_error(tricky: Any) -> None:
    srv, _ = tricky
    fetcher = BrowserFetcher(timeout=3)
    try:
        await fetcher.fetch(str(srv.make_url("/counted")))    # Chromium is up: time only the fetch itself
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"/busy: browser fetch failed: .* did not finish within 3 s"):
            # the outer bound only turns a hang into a failure of this test; the fetcher must end first
            await asyncio.wait_for(fetcher.fetch(str(srv.make_url("/busy"))), 3 + CLOSE_TIMEOUT + 10)
        assert time.monotonic() - started < 3 + CLOSE_TIMEOUT + 2
        result = await fetcher.fetch(str(srv.make_url("/counted")))   # the browser is still usable
        assert result.status == 200
    finally:
        await fetcher.close()


@browser_test
async def test_rendered_dom_and_served_body_are_capped(tricky: Any) -> None:
    srv, _ = tricky
    fetcher = BrowserFetcher(timeout=15, max_bytes=100_000)
    try:
        with pytest.raises(FetchError, match=r"/grow: rendered page of \d+ characters exceeds the 100000-character"):
            await fetcher.fetch(str(srv.make_url("/grow")))
        with pytest.raises(FetchError, match=r"/big: body of 300000 bytes exceeds the 100000-byte limit"):
            await fetcher.fetch(str(srv.make_url("/big")))
        assert (await fetcher.fetch(str(srv.make_url("/big")), max_bytes=400_000)).body == b"x" * 300_000
    finally:
        await fetcher.close()


@browser_test
async def test_redirects_are_capped_and_must_stay_http(tricky: Any) -> None:
    srv, _ = tricky
    fetcher = BrowserFetcher(timeout=15, max_redirects=2)
    try:
        result = await fetcher.fetch(str(srv.make_url("/hop/2")))
        assert result.url == str(srv.make_url("/hop/0"))
        with pytest.raises(FetchError, match=r"/hop/3: more than 2 redirects \(3\)"):
            await fetcher.fetch(str(srv.make_url("/hop/3")))
        with pytest.raises(FetchError, match="/to-file: browser fetch failed"):
            await fetcher.fetch(str(srv.make_url("/to-file")))
        with pytest.raises(FetchError, match="only http and https"):
            await fetcher.fetch("file:///etc/passwd")
    finally:
        await fetcher.close()


@browser_test
async def test_per_host_limit_in_browser_mode(tricky: Any) -> None:
    srv, seen = tricky
    for per_host, expected in ((1, 1), (3, 3)):
        seen["max_active"], seen["together"] = 0, asyncio.Event()
        # one at a time: each holds briefly; three at once: each waits (up to 20 s) for the other two
        seen["expect"], seen["hold"] = (0, 0.3) if per_host == 1 else (3, 20.0)
        fetcher = BrowserFetcher(timeout=15, per_host=per_host)
        try:
            await asyncio.gather(*(fetcher.fetch(str(srv.make_url(f"/counted?n={n}"))) for n in range(3)))
        finally:
            await fetcher.close()
        assert seen["max_active"] == expected
    seen["expect"], seen["hold"] = 0, 0.2


@browser_test
async def test_user_agent_is_a_browsers_unless_a_source_sets_one(server: TestServer, tricky: Any) -> None:
    library = str(server.make_url("/search-gov/data?t=zhengcelibrary&q=&sort=pubtime&sortType=1&p=1&n=5"))
    srv, seen = tricky
    hub_default = FetchSettings().user_agent                       # what app.py passes: not a browser's
    fetcher = BrowserFetcher(timeout=15, user_agent=hub_default)
    try:
        result = await fetcher.fetch(library)                      # the firewall lets a browser through
        assert result.status == 200 and result.text.lstrip().startswith("{")
        await fetcher.fetch(str(srv.make_url("/counted")))
        await fetcher.fetch(str(srv.make_url("/counted")), headers={"User-Agent": "Mozilla/5.0 (source's own)"})
    finally:
        await fetcher.close()
    chosen, per_source = seen["user_agents"]
    assert chosen.startswith("Mozilla/5.0") and "Chrome/" in chosen and "Headless" not in chosen
    assert hub_default not in chosen and per_source == "Mozilla/5.0 (source's own)"
    configured = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
    fetcher = BrowserFetcher(timeout=15, user_agent=configured)
    try:
        await fetcher.fetch(str(srv.make_url("/counted")))
    finally:
        await fetcher.close()
    assert seen["user_agents"][-1] == configured


def test_which_user_agents_count_as_a_browsers() -> None:
    assert is_browser_user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36")
    for ua in ("syndicator/0.1 (+government reprint monitor)", "Mozilla/5.0 HeadlessChrome/126", "", None):
        assert not is_browser_user_agent(ua)


def test_browser_tests_skip_locally_but_never_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    def names() -> list[str]:
        def some_test() -> None:
            pass

        return [m.name for m in getattr(browser_test(some_test), "pytestmark", [])]

    monkeypatch.delenv("CI", raising=False)
    assert names() == ["skipif", "skipif", "browser"]
    monkeypatch.setenv("CI", "1")
    assert names() == ["browser"]                                    # runs, and fails if Chromium is missing
