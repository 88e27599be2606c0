"""Every parser survives arbitrary and mangled input: no exception escapes except the documented
ParseError, no hang (a per-example deadline), and what comes out is still well-formed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.article import parse_article
from feeds.dates import parse_or_flag
from feeds.fetch import decode_body
from feeds.html_list import next_page_url, parse_html_list
from feeds.json_list import parse_json_list
from feeds.model import Entry, ParseError
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
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
         "createPageHTML(", "99999999999999999999", "{", "[", "]", "}", ":null", "<em>", "\ufeff"]


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
    text = decode_body(body)[0]
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
