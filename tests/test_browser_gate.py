"""BrowserFetcher gets through a 412 JavaScript bot gate that stops a plain HTTP client.

The gate tests need Debian's Chromium (apt-get install chromium) and the playwright package and
are skipped otherwise; the missing-dependency messages are tested everywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from feeds.browser import CHROMIUM, BrowserFetcher, BrowserUnavailable
from feeds.html_list import next_page_url, parse_html_list
from feeds.json_list import parse_json_list
from feeds.model import FetchError
from feeds.specs import HtmlListSpec, JsonListSpec
from sandbox.govsite import GOVSITE, add_govsite_routes
from sandbox.upstream import UPSTREAM, build_app


def _playwright_missing() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return True
    return False


def browser_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marked ``browser``; skipped, saying what to install, without Chromium or playwright."""
    func = pytest.mark.skipif(_playwright_missing(), reason="browser tests need the playwright package")(func)
    no_chromium = f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium"
    func = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=no_chromium)(func)
    return pytest.mark.browser(func)

HUBEI = HtmlListSpec(item="ul.list-t li", link="a", date="span", next_page="@trs")


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
    assert '<a class="next" href="index_1.shtml">' not in result.body.decode("utf-8")   # source, not DOM
    entries = parse_html_list(result.text, result.url, HUBEI)
    assert len(entries) == 10 and entries[0].title == "湖北省人民政府关于第0号示范事项的通知（湉）"
    assert entries[0].url.startswith(str(server.make_url("/gated/zfwj/ezf/202611/t20261125_")))
    assert '<a class="next" href="index_1.shtml">' in result.text   # the rendered DOM: the pager script ran
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
    spec = JsonListSpec(list_path="searchVO.listVO", date="pubtimeStr")
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
