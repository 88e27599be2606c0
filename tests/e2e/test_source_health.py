"""A source that misbehaves in every way an upstream site does keeps the hub healthy, shows in
its health record, and recovers by itself; rules and identity decide what is new and required."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from feeds.identity import canonical_url, content_hash
from feeds.model import Entry
from feeds.rules import required_by
from feeds.specs import RuleSpec
from sandbox.server import DEMO_SECRETS
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.hub_support import hub_settings, webhook_and_site_units

GOOD = [{"TITLE": "国务院政策解读：<em>稳就业</em>十条措施", "URL": "/zhengce/202611/content_7000101.htm",
         "DOCRELPUBTIME": "2026-11-25 09:30:00"}]


def flaky_site() -> tuple[web.Application, dict[str, str]]:
    mode = {"now": "ok"}

    async def handler(request: web.Request) -> web.StreamResponse:
        m = mode["now"]
        if m == "500":
            return web.Response(status=500, text="Internal Server Error")
        if m == "412":
            return web.Response(status=412, text="<script>document.cookie='x=1';location.reload()</script>")
        if m == "slow":
            await asyncio.sleep(3)
        if m == "html":
            return web.Response(text="<html><body><h1>系统维护中</h1></body></html>", content_type="text/html")
        if m == "huge":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            chunk = b" " * (1 << 20)
            for _ in range(50):               # 50 MB, never fully read
                try:
                    await resp.write(chunk)
                except ConnectionError:
                    break
            return resp
        return web.json_response(GOOD)

    app = web.Application()
    app.router.add_get("/zhengce/jiedu/ZCJD_QZ.json", handler)
    return app, mode


@pytest.mark.parametrize(("mode", "error_fragment"), [
    ("500", "来源网站内部出错（HTTP 500）"), ("412", "来源网站要求先通过浏览器校验（HTTP 412）"),
    ("slow", "来源网站在 1 秒内未完整答复（超时）"), ("html", "JSON"), ("huge", "来源内容超过大小上限"),
])
async def test_misbehaving_json_source_is_recorded_and_recovers(serve, tmp_path, clock, mode, error_fragment) -> None:
    app, site_mode = flaky_site()
    base = await serve(app)
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    source = {"id": "jiedu", "name": "政策解读", "kind": "json", "url": f"{base}/zhengce/jiedu/ZCJD_QZ.json",
              "interval": 60, "json": {"list_path": "", "title": "TITLE", "url": "URL", "date": "DOCRELPUBTIME"}}
    settings = hub_settings(tmp_path, sources=[source], units=webhook_and_site_units(1, receiver, tmp_path / "s"))
    settings.fetch.timeout_seconds = 1
    async with Hub(settings, clock=clock) as hub:
        site_mode["now"] = mode
        assert await hub.watcher.poll(settings.sources[0]) == 0
        health = await hub.store.source_health("jiedu")
        assert health.consecutive_errors == 1 and error_fragment in (health.last_error or "")
        assert health.next_check_at is not None and health.next_check_at > clock.now()
        site_mode["now"] = "ok"
        clock.advance(seconds=61)
        (started,) = await hub.watcher.start_due()
        await started
        health = await hub.store.source_health("jiedu")
        assert health.consecutive_errors == 0 and health.last_success_at == clock.now()
        (delivery, *_rest) = await hub.store.deliveries()
        item = await hub.store.get_item(delivery.item_id)
    assert item is not None and item.title == "国务院政策解读：稳就业十条措施"
    assert item.url == f"{base}/zhengce/202611/content_7000101.htm"
    assert item.published_at is not None and item.published_at.isoformat() == "2026-11-25T01:30:00+00:00"


def entry(title: str, **kw) -> Entry:
    return Entry(url="https://www.gov.cn/x.htm", title=title, **kw)


def test_rules_first_match_wins_and_exclusions_veto() -> None:
    rules = [
        RuleSpec(name="国务院文件", match="category", values=["国务院文件"]),
        RuleSpec(name="通知意见", match="regex", values=["关于.*的(通知|意见)"], exclude=["征求意见"]),
        RuleSpec(name="关键词", match="keywords", values=["稳就业"]),
    ]
    assert required_by(entry("任意标题", categories=("国务院文件",)), rules).name == "国务院文件"
    assert required_by(entry("国务院关于加强审计工作的意见"), rules).name == "通知意见"
    assert required_by(entry("关于公开征求意见的通知"), rules) is None
    assert required_by(entry("政策解读", summary="稳就业十条"), rules).name == "关键词"
    assert required_by(entry("天气预报"), rules) is None
    assert required_by(entry("任何内容"), [RuleSpec()]).name == "all"


def test_rule_config_errors() -> None:
    with pytest.raises(ValueError, match="needs at least one value"):
        RuleSpec(name="x", match="title")
    with pytest.raises(ValueError, match="bad regex"):
        RuleSpec(name="x", match="regex", values=["(unclosed"])


@pytest.mark.parametrize(("a", "b"), [
    ("https://www.gov.cn/zhengce/content/202611/content_1.htm",
     "http://WWW.GOV.CN:80/zhengce/content/202611/content_1.htm#top"),
    ("https://www.gov.cn/a.htm?b=2&a=1", "https://www.gov.cn/a.htm?a=1&b=2&utm_source=weixin&from=timeline"),
])
def test_canonical_url_equates_the_same_page(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_canonical_url_keeps_different_pages_apart() -> None:
    assert canonical_url("https://www.gov.cn/a.htm?id=1") != canonical_url("https://www.gov.cn/a.htm?id=2")
    assert canonical_url("https://www.gov.cn:8443/a.htm") != canonical_url("https://www.gov.cn/a.htm")


def test_content_hash_ignores_layout_whitespace_only() -> None:
    assert content_hash("t", "国务院 通知\n正文") == content_hash("其他标题", "国务院通知 正文")
    assert content_hash("t", "正文甲") != content_hash("t", "正文乙")
    assert json.dumps(content_hash("t", "x"))


def test_content_hash_of_a_body_without_text_never_merges_documents() -> None:
    """Periodic 任免 notices share a title and are often one scanned image: no body text is no
    evidence of sameness, so such a hash never equals another page's nor any body-text hash."""
    a = "https://www.gov.cn/renmian/202611/content_1.htm"
    b = "https://www.gov.cn/renmian/202612/content_2.htm"
    assert content_hash("国务院任免国家工作人员", "", url=a) != content_hash("国务院任免国家工作人员", "", url=b)
    assert content_hash("国务院任免国家工作人员", "", url=a) == \
        content_hash("国务院任免国家工作人员", " \n", url=a.replace("https:", "http:") + "#top")   # stable per page
    assert content_hash("正文", "", url=a) != content_hash("t", "正文")     # never a body-text hash
