"""Article extraction that cannot reprint a menu: every root of the document is searched (the stray
``</html>`` case), every body is checked, and an implausible body is never fanned out — its item is
held with "正文提取异常" (or reprinted as a link where the unit allows it)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.content import to_text
from core.fetch import decode_body
from feeds.article import parse_article
from feeds.plausibility import check_body
from feeds.specs import ArticleSpec
from sandbox.govsite import add_govsite_routes
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import GOV_NAV, UPSTREAM, build_app
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.hub_support import drain, hub_settings, webhook_and_site_units
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "upstream"
GOV_ARTICLE = ArticleSpec(title=["div.share-title"], body=["div.TRS_UEDITOR", "#UCAP-CONTENT"],
                          date_meta=["firstpublishedtime"], guid_meta=["manuscriptId"])
URL = "https://www.gov.cn/zhengce/content/202611/content_7100001.htm"


def test_stray_html_end_tag_still_yields_the_real_body() -> None:
    text = decode_body((FIXTURES / "gov_zhengce_content_7100001_stray_html.htm").read_bytes())[0]
    article = parse_article(text, URL, GOV_ARTICLE)
    body = to_text(article.content_html)
    assert article.body_problem is None and article.body_source == "div.TRS_UEDITOR"
    assert body.startswith("各省、自治区、直辖市人民政府，国务院各部委、各直属机构：")
    assert "无障碍" not in body and "登录" not in body
    assert article.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见" and article.guid == "7100001"


def test_a_missed_body_is_a_problem_never_the_menu() -> None:
    text = decode_body((FIXTURES / "gov_zhengce_content_7100001_stray_html.htm").read_bytes())[0]
    missed = ArticleSpec(body=["div.no-such-body"], fallback_extractor=False)
    article = parse_article(text, URL, missed)
    assert article.content_html == "" and "未找到正文" in (article.body_problem or "")
    menu_as_body = ArticleSpec(body=["div.header_top"])         # what a bad fallback returned
    article = parse_article(text, URL, menu_as_body)
    assert "菜单" in (article.body_problem or "")


@pytest.mark.parametrize(("body", "words"), [
    (GOV_NAV, "链接"),                                           # every word is a link
    ("<p>首页 | 简 | 繁 | EN | 登录 | 无障碍 | 国务院办公厅关于印发城市更新行动方案的通知全文</p>", "导航用语"),
    ("<p>当前位置：首页 &gt; 政策 &gt; 国务院文件 &gt; 正文内容在此处显示并且很长很长</p>", "导航路径"),
    ("<p>  </p>", "未找到正文"),
    ("<p>见附</p>", "仅 2 字"),
])
def test_implausible_bodies_are_named(body: str, words: str) -> None:
    assert words in (check_body(body) or "")


def test_plausible_bodies_pass_stubs_included() -> None:
    assert check_body("<p>详见附件。</p>") is None                              # real stub bodies exist
    assert check_body("<p>各省、自治区、直辖市人民政府：现将《城市更新行动方案》印发给你们，请认真贯彻执行。</p>"
                      '<p><a href="a.pdf">附件：城市更新行动方案</a></p>') is None
    summary = "推动城市更新行动方案落地见效，加快补齐城市基础设施短板"
    body = "<p>为推动城市更新行动方案落地见效，现就加快补齐城市基础设施短板提出如下意见。</p>"
    assert check_body(body, summary=summary) is None
    other = "<p>国家统计局今日发布十一月份居民消费价格指数，同比上涨百分之零点二，环比持平。</p>"
    assert "摘要" in (check_body(other, summary=summary) or "")


async def test_navigation_only_body_is_held_with_its_reason(serve, tmp_path, clock) -> None:
    app = build_app()
    add_govsite_routes(app)
    state = app[UPSTREAM]
    doc = state.publish("国务院办公厅关于正文提取异常测试的通知", GOV_NAV, feeds={"gwy"},
                        published_at=clock.now() - timedelta(hours=1))
    base = await serve(app)
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    units = webhook_and_site_units(2, receiver, tmp_path / "site")
    units[1]["link_only_on_bad_body"] = True                     # this unit reprints a link instead
    source = {"id": "zuixin", "name": "最新政策", "kind": "json", "url": f"{base}/zhengce/zuixin/ZUIXINZHENGCE.json",
              "interval": 60, "json": {"title": "TITLE", "url": "URL", "date": "DOCRELPUBTIME"},
              "article": GOV_ARTICLE.model_dump()}
    settings = hub_settings(tmp_path, sources=[source], units=units)
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 1
        deliveries = await hub.store.deliveries()
        item = await hub.store.get_item(deliveries[0].item_id)
        assert item is not None and item.content == "" and item.url == base + doc.path   # the menu was not stored
        held = [d for d in deliveries if d.unit_id == "u0"]
        assert held and all(d.state.value == "held" for d in held)
        assert all((d.last_error or "").startswith("正文提取异常：") and "菜单" in (d.last_error or "") for d in held)
        await drain(hub)
        linked = [await hub.store.get_delivery(d.id) for d in deliveries if d.unit_id == "u1"]
        assert all(d is not None and d.state.value == "delivered" for d in linked)   # link-only reprint
        await hub.store.release_account("u0-hook", clock.now())                      # resuming the account
        assert (await hub.store.get_delivery(held[0].id)).state.value == "held"      # does not release them
        clock.advance(days=3)
        await hub.monitor.scan()
        # (a 'not_visible' record of live verification is another matter: the link-only reprint is not served)
        reasons = [r.reason for r in await hub.store.delays() if r.kind != "not_visible"]
        assert reasons and all("正文提取异常" in r for r in reasons), reasons
