"""feeds.article: body by selector (raw), precise dates from metas, ids, and the fallback."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.fetch import decode_body
from feeds.article import Article, inner_html, merge_article, parse_article
from feeds.dates import SHANGHAI
from feeds.html_list import load_html
from feeds.model import Entry
from feeds.specs import ArticleSpec
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "upstream"
GOV_URL = "https://www.gov.cn/zhengce/content/202611/content_7100001.htm"
GOV_SPEC = ArticleSpec(title=["div.share-title"])


def gov_page() -> str:
    return (FIXTURES / "gov_zhengce_content_7100001.htm").read_text("utf-8")


def test_gov_article() -> None:
    article = parse_article(gov_page(), GOV_URL, GOV_SPEC)
    assert article.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见"
    assert article.published_at == datetime(2026, 11, 25, 17, 45, 12, tzinfo=SHANGHAI)
    assert article.published_raw == "2026-11-25-17:45:12" and article.date_problem is None
    assert article.guid == "7100001"
    assert article.body_source == "div.TRS_UEDITOR"
    body = article.content_html
    assert body.startswith("各省、自治区、直辖市人民政府")
    assert '<p style="text-indent: 2em;">' in body                       # raw: not sanitised
    assert 'src="../../../images/202611/fig1.png"' in body               # links left as upstream wrote them
    assert "TRS_UEDITOR" not in body and "share-title" not in body       # inner HTML only


def test_title_falls_back_to_page_title_without_site_suffix() -> None:
    assert parse_article(gov_page(), GOV_URL, ArticleSpec()).title == \
        "国务院办公厅关于进一步优化政务服务提升行政效能的意见"


def test_hubei_gbk_article() -> None:
    text = decode_body((FIXTURES / "hubei_zfwj_ezf_t20261118_5200050.shtml").read_bytes())[0]
    spec = ArticleSpec(body=["div.TRS_UEDITOR", "div.TRS_Editor"], date_meta=["PubDate"], guid_meta=["contentid"])
    article = parse_article(text, "https://www.hubei.gov.cn/zfwj/ezf/202611/t20261118_5200050.shtml", spec)
    assert article.title == "湖北省人民政府关于调整鄂州市部分行政区划的批复"          # ArticleTitle meta
    assert article.published_at == datetime(2026, 11, 18, 16, 20, tzinfo=SHANGHAI)
    assert article.guid == "5200050"
    assert "（湉）" in article.content_html and article.content_html.startswith("<p>鄂州市人民政府：</p>")


def test_bad_meta_date_is_reported_even_when_another_source_works() -> None:
    page = gov_page().replace("2026-11-25-17:45:12", "2026-11-25-27:45:12")
    article = parse_article(page, GOV_URL, GOV_SPEC)
    assert article.published_at == datetime(2026, 11, 25, 17, 45, tzinfo=SHANGHAI)     # from PubDate
    problem = article.date_problem or ""
    assert "firstpublishedtime" in problem and "used meta PubDate" in problem


def test_visible_date_selector_and_unreadable_dates() -> None:
    page = ('<html><body><h1>某某通知</h1><div class="date">发布时间：2026-02-30</div>'
            '<div class="c"><p>正文</p></div></body></html>')
    article = parse_article(page, "https://a.gov.cn/x", ArticleSpec(body=["div.c"], date=["div.date"]))
    assert article.title == "某某通知"
    assert article.published_at is None
    assert article.published_raw == "发布时间：2026-02-30"
    assert article.date_problem and "day 30" in article.date_problem


def test_fallback_extractor() -> None:
    sentence = "各地区各部门要认真贯彻落实本通知精神，结合实际抓好组织实施工作。"
    paragraphs = "".join(f"<p>第{i}条　{sentence}</p>" for i in range(12))
    page = f'<html><body><div class="nav">首页 政策 解读</div><div class="wrap">{paragraphs}</div></body></html>'
    spec = ArticleSpec(body=["div.TRS_UEDITOR"])
    article = parse_article(page, "https://a.gov.cn/x.htm", spec)
    pytest.importorskip("trafilatura")
    assert article.body_source == "trafilatura"
    assert "第11条" in article.content_html
    off = parse_article(page, "https://a.gov.cn/x.htm", ArticleSpec(body=["div.TRS_UEDITOR"], fallback_extractor=False))
    assert off.content_html == "" and off.body_source == ""


def test_empty_selector_match_moves_on() -> None:
    page = '<html><body><div class="TRS_UEDITOR">  </div><div id="UCAP-CONTENT"><p>正文</p></div></body></html>'
    article = parse_article(page, "https://a.gov.cn/x", ArticleSpec())
    assert article.body_source == "#UCAP-CONTENT" and article.content_html == "<p>正文</p>"


def test_inner_html_escapes_leading_text() -> None:
    node = load_html("<div id=a>1 &lt; 2 &amp; <b>x</b> tail</div>", "u").get_element_by_id("a")
    assert inner_html(node) == "1 &lt; 2 &amp; <b>x</b> tail"


def test_merge_article_prefers_the_page_time_and_keeps_the_list_date() -> None:
    entry = Entry(url=GOV_URL, title="列表标题", published_raw="2026-11-25",
                  published_at=datetime(2026, 11, 25, tzinfo=SHANGHAI))
    article = Article(url=GOV_URL, title="页面标题", content_html="<p>x</p>", guid="7100001",
                      published_at=datetime(2026, 11, 25, 17, 45, tzinfo=SHANGHAI), published_raw="2026-11-25-17:45:00")
    merged = merge_article(entry, article)
    assert merged.title == "列表标题" and merged.content == "<p>x</p>" and merged.guid == "7100001"
    assert merged.published_at == article.published_at and merged.extra["list_date"] == "2026-11-25"
