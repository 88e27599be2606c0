"""feeds.html_list: selectors, absolute http(s) links, de-duplication, dates, pagination."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.fetch import decode_body
from feeds.dates import SHANGHAI
from feeds.html_list import check_html_spec, next_page_url, parse_html_list
from feeds.model import ParseError
from feeds.specs import HtmlListSpec
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "upstream"
PUSHINFO = "https://www.gov.cn/pushinfo/v150203/"
PUSHINFO_SPEC = HtmlListSpec(item=".news_box .list li:not(.line)", link="h4 a", date="span.date")


def fixture_text(name: str) -> str:
    return decode_body((FIXTURES / name).read_bytes())[0]


def test_pushinfo_list() -> None:
    entries = parse_html_list(fixture_text("gov_pushinfo_v150203.html"), PUSHINFO, PUSHINFO_SPEC)
    urls = [e.url for e in entries]
    assert urls == [f"https://www.gov.cn/zhengce/content/202611/content_710000{i}.htm" for i in range(1, 7)]
    first = entries[0]
    assert first.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见"
    assert first.published_at == datetime(2026, 11, 25, tzinfo=SHANGHAI)
    assert first.published_raw == "2026-11-25" and first.date_problem is None
    # the fragment is dropped and the second listing of 7100004 is not repeated
    assert urls.count("https://www.gov.cn/zhengce/content/202611/content_7100004.htm") == 1
    # 2026-11-31 does not exist: flagged, not clamped
    bad = entries[-1]
    assert bad.published_at is None and bad.date_problem and "day 31" in bad.date_problem
    assert bad.published_raw == "2026-11-31"


def test_title_attribute_replaces_truncated_text() -> None:
    page = ('<div class="list"><ul>'
            '<li><h4><a href="../content/202611/content_7100001.htm">'
            '国务院办公厅关于进一步优化政务服务提升行政效能的意见</a>'
            '<span class="date">2026-11-25</span></h4></li>'
            '<li><h4><a href="../content/202611/content_7100007.htm" title="国务院办公厅关于加快构建全国统一大市场推动'
            '要素市场化配置综合改革试点的实施意见">国务院办公厅关于加快构建全国统一大市场推动要素市场化配置...</a>'
            '<span class="date">2026-11-25</span></h4></li>'
            '<li><h4><a href="mailto:zhengce@example.gov.cn">意见建议</a></h4></li></ul></div>')
    spec = HtmlListSpec(item=".list li", link="h4 a", date="span.date")
    entries = parse_html_list(page, "https://www.gov.cn/zhengce/zuixin/", spec)
    assert [e.url.rsplit("_", 1)[1] for e in entries] == ["7100001.htm", "7100007.htm"]
    assert entries[1].title == "国务院办公厅关于加快构建全国统一大市场推动要素市场化配置综合改革试点的实施意见"
    assert all(e.url.startswith("https://www.gov.cn/zhengce/content/") for e in entries)   # mailto dropped


def test_javascript_shell_lists_nothing_without_an_error() -> None:
    """最新政策's HTML is a shell filled by script: the list container is there and empty. The parser
    cannot tell that from a quiet list; the watcher's "empty" health state does (test_source_empty)."""
    spec = HtmlListSpec(item=".list li", link="h4 a", date="span.date")
    assert parse_html_list(fixture_text("gov_zhengce_zuixin.html"), "https://www.gov.cn/zhengce/zuixin/", spec) == []


def test_gbk_trs_list_after_decoding() -> None:
    text = fixture_text("hubei_zfwj_ezf_index.shtml")
    spec = HtmlListSpec(item="ul.hbgov-newslist-itemheight-18px > li", link="a", date="span", next_page="@trs")
    base = "https://www.hubei.gov.cn/zfwj/ezf/index.shtml"
    entries = parse_html_list(text, base, spec)
    assert entries[0].url == "https://www.hubei.gov.cn/zfwj/ezf/202611/t20261125_5200101.shtml"
    assert entries[0].title.endswith("先行区实施方案的通知")
    assert entries[3].url.startswith("http://www.hubei.gov.cn/")          # absolute links are kept as given
    assert "湉" in entries[3].title                                        # a GBK-only character survives
    assert next_page_url(text, base, spec) == "https://www.hubei.gov.cn/zfwj/ezf/index_1.shtml"
    last = fixture_text("hubei_zfwj_ezf_index_7.shtml")
    assert next_page_url(last, "https://www.hubei.gov.cn/zfwj/ezf/index_7.shtml", spec) is None


def test_trs_pager_variables() -> None:
    page = ('<html><body><ul><li><a href="a.shtml">甲文件</a></li></ul><script>var countPage = 3;'
            'var currentPage = 1; var prefix = "index"; var suffix = "shtml";</script></body></html>')
    spec = HtmlListSpec(item="li", next_page="@trs")
    assert next_page_url(page, "https://x.gov.cn/col/index_1.shtml", spec) == "https://x.gov.cn/col/index_2.shtml"


def test_next_page_selector() -> None:
    page = ('<html><body><div class="page"><a href="?p=1">上一页</a><a class="next" href="list_3.htm">下一页</a>'
            '</div></body></html>')
    spec = HtmlListSpec(item="li", next_page="a.next")
    assert next_page_url(page, "https://x.gov.cn/a/list_2.htm", spec) == "https://x.gov.cn/a/list_3.htm"
    assert next_page_url(page, "https://x.gov.cn/a/list_3.htm", spec) is None       # no loop to itself
    assert next_page_url(page, "https://x.gov.cn/a/", HtmlListSpec(item="li")) is None


def test_xpath_selectors_and_base_href() -> None:
    page = ('<html><head><base href="https://www.gov.cn/zhengce/"></head><body><table>'
            '<tr><td><a href="content/1.htm">一号文件</a></td><td>2026/11/25</td></tr>'
            '<tr><td><a href="ftp://x/2">二号</a></td><td>2026/11/24</td></tr>'
            '<tr><td><a href="content/3.htm">三号文件</a></td><td>11-23</td></tr></table></body></html>')
    spec = HtmlListSpec(item="//tr", link=".//a/@href", title=".//a", date="string(td[2])", selector_type="xpath")
    entries = parse_html_list(page, "https://elsewhere.example/", spec)
    assert [e.url for e in entries] == ["https://www.gov.cn/zhengce/content/1.htm", "https://www.gov.cn/zhengce/content/3.htm"]
    assert entries[0].published_at == datetime(2026, 11, 25, tzinfo=SHANGHAI)
    assert entries[1].published_at is None and "no year" in (entries[1].date_problem or "")


def test_item_that_is_the_link_and_no_date_selector() -> None:
    page = '<ul><li><a href="/a.htm">甲</a></li><li><a href="/b.htm"> </a></li><li>无链接</li></ul>'
    entries = parse_html_list(page, "https://www.gov.cn/", HtmlListSpec(item="li a"))
    assert [(e.url, e.title, e.published_at, e.date_problem) for e in entries] == [
        ("https://www.gov.cn/a.htm", "甲", None, None)]


def test_xml_declaration_and_stale_meta_charset_are_harmless() -> None:
    page = ('<?xml version="1.0" encoding="gbk"?><html><head><meta charset="gbk"></head>'
            '<body><li><a href="/x">中文标题</a></li></body></html>')
    assert parse_html_list(page, "https://a.gov.cn/", HtmlListSpec(item="li"))[0].title == "中文标题"


def test_empty_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"https://a\.gov\.cn/"):
        parse_html_list("  ", "https://a.gov.cn/", HtmlListSpec(item="li"))


def test_bad_selectors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"html\.date: invalid css selector"):
        check_html_spec(HtmlListSpec(item="li", date="span[["))
    with pytest.raises(ValueError, match=r"html\.item: invalid xpath selector"):
        check_html_spec(HtmlListSpec(item="//li[", selector_type="xpath"))
    check_html_spec(PUSHINFO_SPEC)
    check_html_spec(HtmlListSpec(item="li", next_page="@trs"))


def test_layout_change_is_a_parse_error_naming_url_and_selector() -> None:
    page = ('<html><head><title>最新政策_中国政府网</title></head><body><table><tr><td><a href="/a.htm">甲</a>'
            "</td></tr></table></body></html>")
    with pytest.raises(ParseError) as info:
        parse_html_list(page, PUSHINFO, PUSHINFO_SPEC)
    message = str(info.value)
    assert PUSHINFO in message and "'.news_box .list li:not(.line)' matched nothing" in message
    assert "'.news_box .list'" in message and "最新政策_中国政府网" in message


def test_items_that_all_lack_links_are_a_parse_error() -> None:
    page = '<ul class="list"><li><span>甲</span></li><li><a href="javascript:void(0)">乙</a></li></ul>'
    with pytest.raises(ParseError, match=r"all 2 items matched by 'ul.list li' lack a usable link \('h4 a'\)"):
        parse_html_list(page, PUSHINFO, HtmlListSpec(item="ul.list li", link="h4 a"))


@pytest.mark.parametrize(("page", "spec"), [
    ('<div class="news_box"><div class="list"><ul><li class="line"></li></ul></div></div>', PUSHINFO_SPEC),
    ('<ul class="list-t">\n</ul>', HtmlListSpec(item="ul.list-t li", link="a")),
    ('<table id="docs"></table>', HtmlListSpec(item="//table[@id='docs']//tr", selector_type="xpath",
                                               container="//table[@id='docs']")),
])
def test_an_empty_list_whose_container_is_there_is_just_empty(page: str, spec: HtmlListSpec) -> None:
    assert parse_html_list(page, PUSHINFO, spec) == []


def test_unreadable_date_text_is_flagged_not_dropped() -> None:
    page = ('<ul class="l"><li><a href="/a.htm">甲</a><span>2026-11-25 08</span></li>'
            '<li><a href="/b.htm">乙</a><span>11/25/2026</span></li>'
            '<li><a href="/c.htm">丙</a><span>本周三</span></li>'
            '<li><a href="/d.htm">丁</a><span>2026-11-25 下午3:30</span></li>'
            '<li><a href="/e.htm">戊</a></li></ul>')
    entries = parse_html_list(page, "https://www.gov.cn/", HtmlListSpec(item="ul.l li", date="span"))
    problems = [e.date_problem for e in entries]
    assert all(e.published_at is None for e in entries[:3]) and all(problems[:3])
    assert "本周三" in (problems[2] or "") and "span" in (problems[2] or "")
    assert entries[3].published_at == datetime(2026, 11, 25, 15, 30, tzinfo=SHANGHAI) and problems[3] is None
    assert entries[4].published_at is None and "no date" in (problems[4] or "")   # missing: said, not silent


def test_one_parse_serves_entries_and_next_page(monkeypatch: pytest.MonkeyPatch) -> None:
    import feeds.html_list as html_list

    calls = []
    real = html_list.load_html
    monkeypatch.setattr(html_list, "load_html", lambda text, url: calls.append(url) or real(text, url))
    page = ('<html><body><ul class="l"><li><a href="/a.htm">甲</a></li></ul>'
            '<a class="next" href="list_2.htm">下一页</a></body></html>')
    entries, nxt = html_list.parse_html_page(page, "https://x.gov.cn/a/list_1.htm",
                                             HtmlListSpec(item="ul.l li", next_page="a.next"))
    assert [e.title for e in entries] == ["甲"] and nxt == "https://x.gov.cn/a/list_2.htm"
    assert len(calls) == 1
