"""Upstream fetch and RSS/Atom parsing against the upstream look-alike."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC

import pytest
from aiohttp import web

from core.fetch import Fetcher, FetchError, decide_charset, decode_body, parse_max_age, parse_retry_after
from core.host_limits import HostLimits
from core.http_headers import MAX_HEADER_SECONDS
from feeds.model import ParseError
from feeds.rss import parse_feed, reject_entity_declarations
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


def rss_with_date(date: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item><title>甲</title>'
            f"<link>https://www.gov.cn/a.htm</link><pubDate>{date}</pubDate></item></channel></rss>")


@pytest.mark.parametrize(("date", "expected"), [
    ("Wed, 25 Nov 2026 10:30:00 CST", "2026-11-25T02:30:00+00:00"),     # China Standard Time, not US Central
    ("2026-11-25 10:30:00", "2026-11-25T02:30:00+00:00"),               # naive = Beijing time, not UTC
    ("Wed, 25 Nov 2026 10:30:00", "2026-11-25T02:30:00+00:00"),         # no zone: Beijing, not "unreadable"
    ("2026年11月25日", "2026-11-24T16:00:00+00:00"),                      # not "today"
    ("Wed, 25 Nov 2026 10:30:00 +0000", "2026-11-25T10:30:00+00:00"),
])
def test_rss_dates_go_through_feeds_dates(date: str, expected: str) -> None:
    (entry,) = parse_feed(rss_with_date(date), "https://www.gov.cn/rss.xml")
    assert entry.date_problem is None and entry.published_at is not None
    assert entry.published_at.astimezone(UTC).isoformat() == expected and entry.published_raw == date


def test_rss_dates_flagged_by_feeds_dates_stay_flagged() -> None:
    (entry,) = parse_feed(rss_with_date("11/25/2026 10:30"), "https://www.gov.cn/rss.xml")
    assert entry.published_at is None and "year last" in (entry.date_problem or "")


BOMB_ENTITIES = ('<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                 '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')
FEED_BODY = ('<rss version="2.0"><channel><title>t</title><item><title>&d;</title><link>http://x.example/1</link>'
             "</item></channel></rss>")


@pytest.mark.parametrize("doc", [
    '<?xml version="1.0"?><!--' + "x" * 70_000 + "-->" + BOMB_ENTITIES + FEED_BODY,   # past the old 64 KB window
    '<?xml version="1.0"?>' + " " * 200_000 + BOMB_ENTITIES + FEED_BODY,
    '<?xml version="1.0"?><!DOCTYPE rss [\n<!-- no entity here -->\n]>' + FEED_BODY,  # an internal subset at all
    '<?xml version="1.0"?><!doctype rss [<!entity a "x">]>' + FEED_BODY,              # lower case
])
def test_entity_declarations_are_refused_anywhere(doc: str) -> None:
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse_feed(doc, "https://evil.example/feed.xml")


def test_plain_public_doctype_is_accepted_and_the_scan_is_linear() -> None:
    rss091 = ('<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
              '"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel><title>t</title>'
              "<item><title>甲</title><link>https://www.gov.cn/a.htm</link></item></channel></rss>")
    assert [e.title for e in parse_feed(rss091, "https://www.gov.cn/rss.xml")] == ["甲"]
    started = time.perf_counter()
    for doc in ("<!DOCTYPE a>" * 400_000, "<!DOCTYPE " * 500_000):    # ~5 MB of DOCTYPE openings
        reject_entity_declarations(doc, "https://x/")
    assert time.perf_counter() - started < 2.0                         # quadratic would take minutes


async def test_redirect_to_a_non_http_url_is_refused(serve, session) -> None:
    app = web.Application()

    async def to_file(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    async def to_ftp(request: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://example.com/feed.xml")

    app.router.add_get("/file", to_file)
    app.router.add_get("/ftp", to_ftp)
    base = await serve(app)
    for path, target in (("/file", "file:///etc/passwd"), ("/ftp", "ftp://example.com")):
        with pytest.raises(FetchError, match="redirected to a non-http URL") as info:
            await fetcher(session).fetch(f"{base}{path}")
        assert info.value.url == f"{base}{path}" and target in str(info.value)


async def test_per_host_limit(serve, session) -> None:
    active = {"now": 0, "max": 0}

    async def slow(request: web.Request) -> web.Response:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.02)              # long enough for every unlimited request to overlap
        active["now"] -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/x", slow)
    base = await serve(app)
    f = fetcher(session, per_host=2)
    await asyncio.gather(*(f.fetch(f"{base}/x?n={n}") for n in range(8)))
    assert active["max"] == 2
    active["max"] = 0
    other = base.replace("127.0.0.1", "localhost")                     # another host has its own slots
    await asyncio.gather(*(f.fetch(f"{u}/x?n={n}") for n in range(2) for u in (base, other)))
    assert active["max"] == 4


async def test_host_table_is_bounded_and_never_drops_a_host_in_use() -> None:
    limits = HostLimits(1, max_hosts=3)
    async with limits.hold("busy.gov.cn"):
        for n in range(50):
            async with limits.hold(f"h{n}.gov.cn"):
                pass
        assert len(limits) <= 3
        second = asyncio.create_task(_hold_once(limits, "BUSY.gov.cn"))   # same host, same single slot
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done()
    await second
    assert len(limits) <= 3


async def _hold_once(limits: HostLimits, host: str) -> None:
    async with limits.hold(host):
        pass


@pytest.mark.parametrize(("body", "content_type"), [
    (b'\xef\xbb\xbf<meta charset="gbk"><p>\xe4\xb8\xad\xe6\x96\x87</p>', ""),    # stale meta after a BOM
    (b'\xef\xbb\xbf<?xml version="1.0" encoding="gb2312"?><rss>\xe4\xb8\xad</rss>', ""),
    (b"\xef\xbb\xbf<p>\xe4\xb8\xad</p>", "text/html; charset=GBK"),                # BOM beats the header too
])
def test_bom_wins_over_declarations(body: bytes, content_type: str) -> None:
    assert decide_charset(body, content_type) == "utf-8-sig"
    text, _ = decode_body(body, content_type)
    assert "中" in text and not text.startswith("\ufeff")


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), ("0", 0.0), ("inf", None), ("nan", None), ("1e12", None), ("-5", None), ("²", None),
    ("31536000", MAX_HEADER_SECONDS), ("9" * 5000, MAX_HEADER_SECONDS),
    ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_HEADER_SECONDS), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_rejects_non_numbers_and_clamps(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_max_age_rejects_unicode_digits_and_clamps() -> None:
    assert parse_max_age("max-age=²") is None
    assert parse_max_age("max-age=" + "9" * 400) == MAX_HEADER_SECONDS


@pytest.mark.parametrize("label", ["zlib", "rot13", "base64", "idna", "punycode", "utf-7", "bogus"])
def test_charset_labels_that_are_not_web_text_encodings_are_skipped(label: str) -> None:
    body = "<p>中文</p>".encode()
    assert decide_charset(body, f"text/html; charset={label}") == "utf-8"
    assert decide_charset(body, "", override=label) == "utf-8"
    assert decode_body(body, f"text/html; charset={label}")[0] == "<p>中文</p>"


def test_feed_with_surrogate_references_or_lone_surrogates_does_not_crash() -> None:
    (entry,) = parse_feed(rss_with_date("2026-11-25").replace("<title>甲", "<title>甲&#xD800;&#1114112;\ud800"),
                          "https://www.gov.cn/rss.xml")
    assert entry.title.startswith("甲") and entry.published_at is not None
