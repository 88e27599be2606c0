"""Every parser survives arbitrary and mangled input: no exception escapes except the documented
ParseError, no hang (a per-example deadline), and what comes out is still well-formed. The charset
decision and URL identity take any input; and parsing stays within a memory bound (tracemalloc)."""

from __future__ import annotations

import codecs
import json
import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.fetch import UndecodableError, decide_charset, decode_body
from feeds.article import parse_article
from feeds.dates import parse_or_flag
from feeds.html_list import next_page_url, parse_html_list
from feeds.identity import canonical_url, content_hash
from feeds.json_list import parse_json_list
from feeds.model import Entry, ParseError
from feeds.rss import parse_feed
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec
from sandbox.upstream import UpstreamState, render_atom, render_rss
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "upstream"
BASE = "https://www.gov.cn/pushinfo/v150203/"
FUZZ = settings(max_examples=120, deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.too_slow])

HTML_SPECS = [
    HtmlListSpec(item=".news_box .list li:not(.line)", link="h4 a", date="span.date"),
    HtmlListSpec(item="ul.list-t li", link="a", date="span", next_page="@trs"),
    HtmlListSpec(item="//li", link=".//a/@href", title="string(.//a)", date="string(.//span)",
                 selector_type="xpath", next_page="//a[@class='next']/@href"),
]
JSON_SPECS = [
    JsonListSpec(list_path="searchVO.listVO", date="pubtimeStr", guid="id", extra={"pcode": "pcode"}),
    JsonListSpec(title="TITLE", url="URL", date="DOCRELPUBTIME"),
]
ARTICLE_SPECS = [ArticleSpec(title=["div.share-title"], date=["div.pages-date"]),
                 ArticleSpec(body=["div.absent"], date=["//span/text()"])]      # forces the trafilatura fallback
HTML_FIXTURES = [decode_body((FIXTURES / n).read_bytes())[0] for n in (
    "gov_pushinfo_v150203.html", "gov_zhengce_zuixin.html", "hubei_zfwj_ezf_index.shtml",
    "gov_zhengce_content_7100001.htm", "hubei_zfwj_ezf_t20261118_5200050.shtml")]
JSON_FIXTURES = [(FIXTURES / n).read_text("utf-8") for n in (
    "gov_search_policy_library.json", "gov_zhengce_jiedu_ZCJD_QZ.json")]
NASTY = ["<", ">", "&", "&#0;", "&#xD800;", "&#99999999;", "\x00", "\ud800", "<!--", "-->", "<![CDATA[", "]]>",
         "<script>", "</li>", "<li>", "<a href='", "javascript:", "//", "\\\\", "<base href='ftp://x/'>",
         "2026-13-45", "二〇二六年", '"', "'", "\u3000", "<?xml version='1.0' encoding='gbk'?>", "<h4><a href=",
         "createPageHTML(", "99999999999999999999", "{", "[", "]", "}", ":null", "<em>", "\ufeff",
         # entity declarations and DTD subsets, wherever a cut or copy puts them
         "<!DOCTYPE rss [", "<!ENTITY a \"aaaaaaaaaa\">", "<!ENTITY % p SYSTEM 'file:///etc/passwd'>", "]>", "&a;",
         "<!DOCTYPE rss PUBLIC '-//Netscape Communications//DTD RSS 0.91//EN' 'http://x/rss.dtd'>", "<!doctype",
         "<![CDATA[<!ENTITY x 'y'>]]>", "<item><title>", "</item>", "<pubDate>2026-11-25 10:30 PM CST</pubDate>"]


def _feeds() -> list[str]:
    state = UpstreamState()
    for n in range(4):
        state.publish(f"国务院关于第{n}号文件的通知", feeds={"gwy", "province"})
    return [render_rss(state, "gwy", "https://www.gov.cn"), render_rss(state, "province", "https://www.hubei.gov.cn"),
            render_atom(state, "gwy", "https://www.gov.cn")]


FEED_FIXTURES = _feeds()


def well_formed(entries: list[Entry]) -> None:
    for e in entries:
        assert e.url.startswith(("http://", "https://")) and "#" not in e.url
        assert e.title.strip()
        assert e.published_at is None or e.published_at.tzinfo is not None
        assert not (e.published_at is not None and e.date_problem)


@st.composite
def mutated(draw: st.DrawFn, sources: list[str]) -> str:
    """A real-structure page with a few random cuts, copies and insertions."""
    text = draw(st.sampled_from(sources))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 400)))
        action = draw(st.sampled_from(["cut", "dup", "insert", "nasty", "truncate"]))
        if action == "cut":
            text = text[:i] + text[j:]
        elif action == "dup":
            text = text[:j] + text[i:j] * draw(st.integers(1, 5)) + text[j:]
        elif action == "insert":
            text = text[:i] + draw(st.text(max_size=40)) + text[i:]
        elif action == "nasty":
            text = text[:i] + draw(st.sampled_from(NASTY)) + text[i:]
        else:
            text = text[:i]
    return text


def run_html(text: str) -> None:
    for spec in HTML_SPECS:
        try:
            well_formed(parse_html_list(text, BASE, spec))
            nxt = next_page_url(text, BASE, spec)
        except ParseError:
            continue
        assert nxt is None or nxt.startswith(("http://", "https://"))


def run_article(text: str) -> None:
    for spec in ARTICLE_SPECS:
        try:
            article = parse_article(text, BASE, spec)
        except ParseError:
            return
        assert article.published_at is None or article.published_at.tzinfo is not None
        assert isinstance(article.content_html, str) and isinstance(article.title, str)


def run_feed(text: str) -> None:
    try:
        entries = parse_feed(text, BASE)
    except ParseError as exc:
        assert BASE in str(exc)
        return
    for e in entries:
        assert e.url.startswith(("http://", "https://"))
        assert e.published_at is None or e.published_at.tzinfo is not None
        assert not (e.published_at is not None and e.date_problem)
        assert len(e.title) < 10_000                  # no entity expansion got through


def run_json(body: str | bytes) -> None:
    for spec in JSON_SPECS:
        try:
            well_formed(parse_json_list(body, BASE, spec))
        except ParseError as exc:
            assert BASE in str(exc)


@FUZZ
@given(st.text(max_size=3000))
def test_arbitrary_text_to_html_parsers(text: str) -> None:
    run_html(text)
    run_article(text)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(body: bytes) -> None:
    try:
        text = decode_body(body)[0]
    except UndecodableError:                       # refused by the fetcher; the parsers must survive it anyway
        text = body.decode("gb18030", errors="replace")
    run_html(text)
    run_article(text)
    run_json(body)
    assert isinstance(parse_or_flag(text), tuple)


@FUZZ
@given(mutated(HTML_FIXTURES))
def test_mutated_pages(text: str) -> None:
    run_html(text)
    run_article(text)


@FUZZ
@given(mutated(JSON_FIXTURES))
def test_mutated_json(text: str) -> None:
    run_json(text)


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["title", "url", "pubtimeStr", "id", "pcode", "TITLE", "URL", "DOCRELPUBTIME", "x"]),
    inner, max_size=6), max_leaves=25)


@FUZZ
@given(_json, st.booleans())
def test_structured_json(value: object, wrap: bool) -> None:
    data = {"searchVO": {"listVO": value}} if wrap else value
    run_json(json.dumps(data, ensure_ascii=False))


@FUZZ
@given(st.lists(st.sampled_from([*NASTY, "2026", "-", "年", "11", "月", "25", "日", " ", ":", "T", "+08:00",
                                 "Nov", "Wed,", "GMT", "CST", "十", "二"]), max_size=20))
def test_date_soup(parts: list[str]) -> None:
    when, problem = parse_or_flag("".join(parts))
    assert when is None or (when.tzinfo is not None and problem is None)


def test_deeply_nested_markup_and_json() -> None:
    run_html("<div>" * 50_000 + "<li><a href='/a'>甲</a></li>")
    run_article("<div>" * 50_000)
    run_json("[" * 50_000 + "]" * 50_000)
    run_json('{"searchVO": {"listVO": ' + "[" * 5000 + "]" * 5000 + "}}")


@FUZZ
@given(mutated(FEED_FIXTURES))
def test_mutated_feeds(text: str) -> None:
    run_feed(text)


@FUZZ
@given(st.lists(st.sampled_from([*NASTY, *(f[:200] for f in FEED_FIXTURES), "<rss version='2.0'><channel>",
                                 "</channel></rss>", "<link>https://www.gov.cn/a.htm</link>"]), max_size=12))
def test_feed_soup(parts: list[str]) -> None:
    run_feed("".join(parts))


_LABELS = st.sampled_from(["", "utf-8", "UTF8", "gbk", "GB2312", "gb18030", "big5", "utf-16", "utf-16le", "latin1",
                           "zlib", "rot13", "base64", "hex", "idna", "punycode", "utf-7", "unicode_escape", "bogus",
                           "x-user-defined", "ascii", "utf-8-sig"])


@FUZZ
@given(st.binary(max_size=600), _LABELS, _LABELS, st.sampled_from(["", "<meta charset={}>", "<?xml version='1.0' "
                                                                       "encoding='{}'?>"]), st.booleans())
def test_charset_decision_always_yields_a_usable_codec(body: bytes, header: str, declared: str, form: str,
                                                       override: bool) -> None:
    body = form.format(declared).encode() + body
    content_type = f"text/html; charset={header}" if header else "text/html"
    charset = decide_charset(body, content_type, declared if override else None)
    assert codecs.lookup(charset)
    try:
        text, used = decode_body(body, content_type, declared if override else None)
    except UndecodableError:                       # then no candidate decodes it, the chosen one included
        with pytest.raises(UnicodeError):
            body.decode(charset)
        return
    assert used == charset and isinstance(text, str)


@FUZZ
@given(st.text(max_size=200) | st.from_regex(r"https?://[A-Za-z0-9.\[\]:-]{0,30}(/[^\s#]{0,40})?(\?[^\s#]{0,40})?"
                                             r"(#.{0,10})?", fullmatch=True))
def test_canonical_url_and_content_hash_take_anything(url: str) -> None:
    canonical = canonical_url(url)
    assert isinstance(canonical, str)
    if url.startswith(("http://", "https://")) and canonical.startswith("//"):
        assert "#" not in canonical and canonical_url("https:" + canonical) == canonical   # idempotent
    assert len(content_hash(url, "", url=url)) == 64
    if url.strip():
        assert content_hash(url, url) != content_hash(url, "", url=url)


# Inputs a few MB large, and adversarial ones; Python-side peak memory must stay a small multiple of
# the input (an entity expansion or a quadratic copy would blow far past it).
_ROWS = "".join(f'<li><h4><a href="/c/{i}.htm">国务院关于第{i}号文件的通知</a><span class="date">2026-11-25</span>'
                "</h4></li>" for i in range(6000))
_BIG_LIST = f'<div class="news_box"><div class="list"><ul>{_ROWS}</ul></div></div>'
_BIG_JSON = json.dumps({"searchVO": {"listVO": [
    {"title": f"国务院第{i}号", "url": f"/c/{i}.htm", "pubtimeStr": "2026.11.25", "id": i} for i in range(10_000)]}},
    ensure_ascii=False)
_BIG_FEED = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>' + "".join(
    f"<item><title>第{i}号</title><link>https://www.gov.cn/{i}.htm</link><pubDate>Wed, 25 Nov 2026 10:30:00 +0800"
    f"</pubDate><description>{'正文' * 50}</description></item>" for i in range(2000)) + "</channel></rss>")
_BOMB = ('<?xml version="1.0"?><!--' + "x" * 70_000 + '--><!DOCTYPE rss [<!ENTITY a "' + "a" * 1000 + '">'
         + "".join(f'<!ENTITY {c} "' + f"&{p};" * 10 + '">' for p, c in zip("abcdef", "bcdefg", strict=True))
         + ']><rss version="2.0"><channel><item><title>&g;</title><link>http://x/1</link></item></channel></rss>')


@pytest.mark.parametrize(("name", "size", "parse"), [
    ("html list", len(_BIG_LIST.encode()),
     lambda: parse_html_list(_BIG_LIST, BASE, HTML_SPECS[0])),
    ("json list", len(_BIG_JSON.encode()), lambda: parse_json_list(_BIG_JSON, BASE, JSON_SPECS[0])),
    ("rss", len(_BIG_FEED.encode()), lambda: parse_feed(_BIG_FEED, BASE)),
    ("article", 1_000_000, lambda: parse_article('<div class="TRS_UEDITOR">' + "<p>字</p>" * 100_000 + "</div>",
                                                  BASE, ArticleSpec())),
    ("entity bomb", len(_BOMB), lambda: _refused(lambda: parse_feed(_BOMB, BASE))),
    ("nested markup", 1_000_000, lambda: run_html("<div>" * 200_000)),
    ("nested json", 1_000_000, lambda: run_json("[" * 500_000 + "]" * 500_000)),
])
def test_parsers_stay_within_a_memory_bound(name: str, size: int, parse: object) -> None:
    tracemalloc.start()
    try:
        parse()  # type: ignore[operator]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 25 * size + 2_000_000, f"{name}: peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of input"


def _refused(parse: object) -> None:
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse()  # type: ignore[operator]
