"""Upstream fetch and RSS/Atom parsing against the upstream look-alike."""

from __future__ import annotations

import pytest
from aiohttp import web

from feeds.fetch import Fetcher, decide_charset, parse_max_age, parse_retry_after
from feeds.model import FetchError, ParseError
from feeds.rss import parse_feed
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream


@pytest.fixture
async def upstream(serve):
    state = UpstreamState()
    state.publish("国务院关于印发《新时代基层治理现代化建设规划》的通知", feeds={"gwy", "province"})
    state.publish("国务院办公厅关于加强政务公开工作的意见", feeds={"province"})
    base = await serve(build_upstream(state))
    return state, base


def fetcher(session, **kw) -> Fetcher:
    return Fetcher(session, user_agent="syndicator-test", **kw)


async def test_conditional_get_returns_304_when_unchanged(upstream, session) -> None:
    state, base = upstream
    f = fetcher(session)
    first = await f.fetch(f"{base}/rss/gwy.xml")
    assert first.status == 200 and first.etag and first.last_modified
    second = await f.fetch(f"{base}/rss/gwy.xml", etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body == b""
    state.publish("国务院关于新文件的通知")
    third = await f.fetch(f"{base}/rss/gwy.xml", etag=first.etag, last_modified=first.last_modified)
    assert third.status == 200 and "新文件" in third.text


async def test_gbk_feed_is_decoded_and_parsed(upstream, session) -> None:
    _state, base = upstream
    result = await fetcher(session).fetch(f"{base}/rss/province.xml")
    assert b'encoding="gbk"' in result.body
    assert result.encoding == "gb18030"
    entries = parse_feed(result.text, result.url)
    titles = {e.title for e in entries}
    assert "国务院办公厅关于加强政务公开工作的意见" in titles
    entry = next(e for e in entries if "政务公开" in e.title)
    assert entry.published_at is not None and entry.published_at.tzinfo is not None
    assert entry.url.startswith(base) and entry.guid.startswith("content_")


async def test_atom_feed(upstream, session) -> None:
    _state, base = upstream
    result = await fetcher(session).fetch(f"{base}/atom/gwy.xml")
    (entry,) = parse_feed(result.text, result.url)
    assert entry.title.startswith("国务院关于印发") and "<p>" in entry.content


def test_entity_bomb_is_refused_before_feedparser() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><rss version="2.0"><channel><title>&c;</title>'
            "<item><title>&c;&c;&c;</title><link>http://x/1</link></item></channel></rss>")
    with pytest.raises(ParseError, match="DOCTYPE declares XML entities"):
        parse_feed(bomb, "https://evil.example/feed.xml")


def test_malformed_feed_is_a_parse_error_naming_the_url() -> None:
    with pytest.raises(ParseError, match="https://up.example/feed.xml"):
        parse_feed("<html><body>502 Bad Gateway</body></html>", "https://up.example/feed.xml")


async def test_body_size_cap(serve, session) -> None:
    app = web.Application()

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(40):
            await resp.write(b"x" * 65536)
        return resp

    app.router.add_get("/big", big)
    base = await serve(app)
    with pytest.raises(FetchError, match="exceeds the 1000000-byte limit"):
        await fetcher(session, max_bytes=1_000_000).fetch(f"{base}/big")


async def test_http_errors_carry_status_and_retry_after(serve, session) -> None:
    async def busy_page(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "120"})

    async def gate_page(request: web.Request) -> web.Response:
        return web.Response(status=412, text="<script>document.cookie='x'</script>")

    app = web.Application()
    app.router.add_get("/busy", busy_page)
    app.router.add_get("/gate", gate_page)
    base = await serve(app)
    with pytest.raises(FetchError) as busy:
        await fetcher(session).fetch(f"{base}/busy")
    assert busy.value.status == 503 and busy.value.retry_after == 120
    with pytest.raises(FetchError, match="HTTP 412"):
        await fetcher(session).fetch(f"{base}/gate")


async def test_redirect_limit_and_scheme(serve, session) -> None:
    app = web.Application()

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop?n={int(request.query.get('n', 0)) + 1}")

    app.router.add_get("/loop", loop)
    base = await serve(app)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await fetcher(session, max_redirects=3).fetch(f"{base}/loop")
    with pytest.raises(FetchError, match="only http and https"):
        await fetcher(session).fetch("file:///etc/passwd")


async def test_unreachable_host_is_a_fetch_error(session) -> None:
    with pytest.raises(FetchError, match="127.0.0.1:9"):
        await fetcher(session, timeout=2).fetch("http://127.0.0.1:9/feed.xml")


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b"<html>", "text/html; charset=GB2312", "gb18030"),
    (b'<?xml version="1.0" encoding="gbk"?><rss/>', "application/xml", "gb18030"),
    ('<meta charset="utf-8"><p>中文</p>'.encode(), "text/html", "utf-8"),
    ("<p>中文</p>".encode(), "", "utf-8"),
    ("<p>中文</p>".encode("gbk"), "", "gb18030"),
    (b"\xef\xbb\xbf<p>x</p>", "", "utf-8-sig"),
])
def test_charset_decision(body: bytes, content_type: str, expected: str) -> None:
    assert decide_charset(body, content_type) == expected


def test_retry_after_and_max_age_parsing() -> None:
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_max_age("public, max-age=600") == 600
    assert parse_max_age("no-cache") is None
