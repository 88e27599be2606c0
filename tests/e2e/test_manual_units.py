"""Manual units end to end through the sandbox: notified, reminded, escalated, verified on the column page,
late when the column never shows the item; the signed copy page and the two ways to report a reprint done."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from sandbox.column import ColumnState
from sandbox.column import build_app as build_column
from sandbox.common import FAULTS, RECORDER, Faults
from sandbox.robots import build_robot_app
from sandbox.smtp import MailRecorder, start_smtp
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from syndicator.config import ConsoleSettings
from syndicator.console import Console
from syndicator.operations import Operations
from tests.conftest import pg_schema
from tests.hub_support import drain, hub_settings, rss_source

TITLE = "国务院办公厅关于进一步规范行政裁量权基准制定和管理工作的意见"
ACCOUNT = "ezsj-manual"
PUBLIC = "http://hub.example.test"


@dataclass
class Env:
    hub: Hub
    clock: Any
    upstream: UpstreamState
    robots: Any
    mail: MailRecorder
    column: ColumnState
    column_url: str
    column_app: Any
    web: str = ""

    def robot_texts(self, key: str) -> list[str]:
        return [e["body"]["markdown"]["content"] for e in self.robots[RECORDER].entries
                if e.get("robot") == "wecom" and e["path_key"] == key]

    async def delivery(self) -> Any:
        (d,) = await self.hub.store.deliveries(account_id=ACCOUNT)
        return d

    def local(self, link: str) -> str:
        assert link.startswith(PUBLIC), link
        return self.web + link[len(PUBLIC):]


def _tag_key(app: Any) -> None:
    """Remember which robot key each message went to (the recorder masks query values that look secret)."""
    original = app[RECORDER].record

    def record(request: Any, body: Any, **extra: Any) -> dict[str, Any]:
        return original(request, body, path_key=request.query.get("key", ""), **extra)

    app[RECORDER].record = record


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, serve, tmp_path, clock) -> AsyncIterator[Env]:
    async with contextlib.AsyncExitStack() as stack:
        storage = None if request.param == "sqlite" else await stack.enter_async_context(pg_schema())
        async for e in _env(serve, tmp_path, clock, storage):
            yield e


async def _env(serve: Any, tmp_path: Any, clock: Any, storage_url: str | None) -> AsyncIterator[Env]:
    upstream = UpstreamState()
    up_url = await serve(build_upstream(upstream))
    robots = build_robot_app(wecom_keys={"wk-informant", "wk-leader"}, dingtalk={})
    _tag_key(robots)
    robots_url = await serve(robots)
    column = ColumnState()
    column_app = build_column(sites={"ezsj": {"name": "鄂州市审计局", "charset": "gbk"}}, state=column)
    column_base = await serve(column_app)
    server, mail = await start_smtp(user="hub", password="mail-pass")
    port = server.sockets[0].getsockname()[1]
    column_url = f"{column_base}/ezsj/zzbz/index.html"
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{up_url}/rss/gwy.xml")], units=[{
        "id": "ezsj", "name": "鄂州市审计局", "accounts": [{
            "id": ACCOUNT, "kind": "manual",
            "credentials": {"informant_wecom": "wk-informant", "leader_wecom": "wk-leader"},
            "options": {"column_url": column_url,
                        "informant": {"name": "王信息员", "email": "xxy@ezsj.example.gov.cn",
                                      "wecom_credential": "informant_wecom"},
                        "responsible": {"name": "李主任", "wecom_credential": "leader_wecom"}}}]}],
        storage_url=storage_url, confirm_interval_seconds=60)
    settings = settings.model_copy(update={
        "web": settings.web.model_copy(update={"public_url": PUBLIC}),
        "notify": settings.notify.model_validate({
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "username": "hub",
                     "password": "mail-pass", "sender": "转载中枢 <hub@example.gov.cn>"},
            "wecom_base_url": robots_url, "daily_summary_at": ""})})
    try:
        async with Hub(settings, clock=clock) as hub:
            e = Env(hub, clock, upstream, robots, mail, column, column_url, column_app)
            e.web = await serve(hub.web_app())
            yield e
    finally:
        server.close()
        await server.wait_closed()


async def notify(e: Env) -> Any:
    """Track the source, publish upstream, detect, and let the dispatcher notify the unit."""
    source = e.hub.settings.sources[0]
    await e.hub.watcher.poll(source)                    # empty: tracking starts now (not a baseline)
    e.clock.advance(60)
    e.upstream.publish(TITLE, f"<p>　　各区人民政府：{TITLE}。</p><p><img src=\"/images/seal.png\"></p>",
                       published_at=e.clock.now() - timedelta(seconds=30))
    e.clock.advance(60)
    assert await e.hub.watcher.poll(source) == 1
    await drain(e.hub)
    return await e.delivery()


async def confirm(e: Env, seconds: float = 61) -> Any:
    e.clock.advance(seconds)
    await e.hub.dispatcher.confirm_once(e.clock.now())
    await e.hub.dispatcher.wait_idle()
    return await e.delivery()


def links(text: str) -> tuple[str, str]:
    copy = re.search(r"可复制的正文和图片：(\S+)", text)
    done = re.search(r"已转载，填写链接：(\S+)", text)
    assert copy and done, text
    return copy.group(1), done.group(1)


async def test_manual_unit_is_notified_reminded_escalated_and_late_when_the_column_never_shows_it(env: Env) -> None:
    d = await notify(env)
    assert d.state.value == "confirming" and "已通知信息员" in (d.note or "")
    (notice,) = env.robot_texts("wk-informant")
    assert TITLE in notice and "/rss/" not in notice
    assert "原文链接：http://" in notice and "截止时间：2026年11月26日 24:00" in notice
    copy, done = links(notice)
    assert copy.startswith(f"{PUBLIC}/manual/copy/") and done.startswith(f"{PUBLIC}/manual/done/")
    assert f"已转载 {d.id}" in notice
    (mail,) = env.mail.messages
    assert mail["to"] == ["xxy@ezsj.example.gov.cn"] and TITLE in mail["subject"] and copy in mail["text"]
    assert env.robot_texts("wk-leader") == []

    assert (await confirm(env)).state.value == "confirming"          # the column does not show it yet
    await drain(env.hub)
    assert len(env.robot_texts("wk-informant")) == 1                  # never notified twice

    env.clock.set(d.deadline_at - timedelta(hours=3))
    await env.hub.monitor.scan()
    reminders = env.robot_texts("wk-informant")[1:]
    assert len(reminders) == 1 and "即将超时提醒" in reminders[0] and TITLE in reminders[0]
    assert env.robot_texts("wk-leader") == []
    await env.hub.monitor.scan()
    assert len(env.robot_texts("wk-informant")) == 2                  # reminded once

    env.clock.set(d.deadline_at + timedelta(hours=1))
    await env.hub.monitor.scan()
    assert "已超时" in env.robot_texts("wk-informant")[-1]
    (escalated,) = env.robot_texts("wk-leader")
    assert "已超时" in escalated and TITLE in escalated
    await env.hub.monitor.scan()
    assert len(env.robot_texts("wk-leader")) == 1
    actions = [a["message"] for a in await env.hub.store.recent_alerts(50) if a["subject"] == ACCOUNT]
    assert any("提醒：已发送给信息员" in m for m in actions), actions
    assert any("上报负责人：已发送给信息员" in m and "负责人（企业微信群机器人" in m for m in actions), actions

    assert (await confirm(env)).state.value == "confirming"
    delays = {r.kind.value: r for r in await env.hub.store.delays()}
    assert set(delays) == {"at_risk", "overdue"}
    assert "已通知单位信息员，单位栏目页尚未出现该稿件" in delays["overdue"].reason

    # found at last: delivered, and on record as late
    env.column.publish("ezsj", TITLE)
    d = await confirm(env)
    assert d.state.value == "delivered" and d.external_url.endswith("/ezsj/art/1.html")
    await env.hub.monitor.scan()
    assert "delivered_late" in {r.kind.value for r in await env.hub.store.delays()}


async def test_manual_unit_is_delivered_when_its_gbk_column_shows_the_cut_title(env: Env) -> None:
    d = await notify(env)
    env.column.publish("ezsj", "无关的稿件标题：关于开展审计工作的通知")
    assert (await confirm(env)).state.value == "confirming"
    env.column.publish("ezsj", TITLE)                 # listed cut to 28 characters + "...", in GBK
    d = await confirm(env)
    assert d.state.value == "delivered", d.last_error
    assert d.external_url == env.column_url.replace("zzbz/index.html", "art/2.html")
    assert "栏目页核对" in (d.note or "")
    receipts = (await env.hub.store.receipts([d.id]))[d.id]
    proof = receipts[-1]["body"]
    proof = proof if isinstance(proof, dict) else json.loads(proof)
    assert proof["http_status"] == 200 and proof["page_url"] == env.column_url and len(proof["page_sha256"]) == 64
    await env.hub.monitor.scan()
    assert await env.hub.store.delays() == []


async def test_a_notice_no_way_accepted_is_retried_and_then_sent_once(env: Env) -> None:
    env.robots[FAULTS].configure(Faults(script=[45009]))         # the robot is rate-limited once
    env.mail.script.append("451 4.3.0 try later")               # the mail server defers once
    d = await notify(env)
    assert d.state.value == "retrying"
    assert "通知信息员失败" in d.last_error and "频繁" in d.last_error and "邮件服务器暂时拒收" in d.last_error
    assert env.robot_texts("wk-informant") == [] and env.mail.messages == []
    env.clock.advance(600)
    await drain(env.hub)
    d = await env.delivery()
    assert d.state.value == "confirming"
    assert len(env.robot_texts("wk-informant")) == 1 and len(env.mail.messages) == 1
    assert "可读取" in await env.hub.dispatcher.bindings[ACCOUNT].channel.verify(
        env.hub.dispatcher.bindings[ACCOUNT].unit)


async def test_column_page_outage_is_visible_not_silent(env: Env) -> None:
    await notify(env)
    env.column_app[FAULTS].configure(Faults(outages=[(0, 1e9)]))
    d = await confirm(env)
    assert d.state.value == "retrying" and "无法读取单位栏目页" in (d.last_error or "")
    alerts = [a["message"] for a in await env.hub.store.recent_alerts(20) if a["kind"] == "alert"]
    assert any("无法读取单位栏目页" in m for m in alerts)
    env.column_app[FAULTS].configure(Faults())
    env.clock.advance(700)
    await drain(env.hub)                               # the resend finds the notice already sent
    assert len(env.robot_texts("wk-informant")) == 1
    assert (await env.delivery()).state.value == "confirming"


async def test_copy_page_needs_a_good_unexpired_token(env: Env, session) -> None:
    await notify(env)
    copy, _done = links(env.robot_texts("wk-informant")[0])
    async with session.get(env.local(copy)) as resp:
        page = await resp.text()
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert TITLE in page and 'data-copy="reprint-body"' in page and "<script>" not in page
    assert '<script src="/manual/static/copy.js"></script>' in page and "seal.png" in page
    async with session.get(f"{env.web}/manual/static/copy.js") as resp:
        assert resp.status == 200 and "clipboard" in await resp.text()
    payload, mac = copy.rsplit("/", 1)[1].split(".")
    for bad in (f"{payload}.{'0' * 32}", f"{payload[:-2]}xx.{mac}", "nonsense"):
        async with session.get(f"{env.web}/manual/copy/{bad}") as resp:
            assert resp.status == 403 and "链接无效" in await resp.text()
    _c, done = links(env.robot_texts("wk-informant")[0])
    async with session.get(f"{env.web}/manual/copy/{done.rsplit('/', 1)[1]}") as resp:
        assert resp.status == 403                       # a report token does not open the copy page
    env.clock.advance(8 * 86400)
    async with session.get(env.local(copy)) as resp:
        assert resp.status == 403 and "链接已过期" in await resp.text()


async def test_report_done_link_checks_the_page_before_marking(env: Env, session) -> None:
    d = await notify(env)
    _copy, done = links(env.robot_texts("wk-informant")[0])
    async with session.get(env.local(done)) as resp:
        assert resp.status == 200 and '<form method="post">' in await resp.text()
    other = env.column.publish("ezsj", "关于开展2026年度内部审计工作的通知")
    base = env.column_url.rsplit("/zzbz/", 1)[0]
    for url, why in ((f"{base}/art/{other.n}.html", "未找到稿件标题"), (f"{base}/art/999.html", "无法打开该链接"),
                     ("https://elsewhere.example.com/a.html", "不在本单位网站"), ("ftp://x", "http://")):
        async with session.post(env.local(done), data={"url": url}) as resp:
            assert resp.status == 422 and why in await resp.text(), url
    assert (await env.delivery()).state.value == "confirming"
    # the 信息员 published it on a page the column does not list (yet): the reported page is what counts
    reprint = env.column.publish("ezsj-special", TITLE)     # a special-topic column the hub does not watch
    url = f"{base.rsplit('/', 1)[0]}/ezsj-special/art/{reprint.n}.html"
    async with session.post(env.local(done), data={"url": url}) as resp:
        text = await resp.text()
        assert resp.status == 200 and "已核对" in text, text
    await env.hub.dispatcher.wait_idle()
    d = await env.delivery()
    assert d.state.value == "delivered" and d.external_url == url and "信息员报告已转载" in (d.note or "")
    actions = [a["message"] for a in await env.hub.store.recent_alerts(50)]
    assert any("核对未通过" in m for m in actions) and any("页面核对一致" in m for m in actions)


async def test_console_command_reports_done_for_the_informant_only(env: Env) -> None:
    d = await notify(env)
    hub = env.hub
    ops = Operations(hub.settings, hub.store, hub.clock, hub.dispatcher, hub.calendar_notices)

    async def status() -> dict[str, Any]:
        return {}

    console = Console(ops, status, ConsoleSettings(admins=["admin-openid"]), hub.clock, hub.manual)
    hub.manual.informants = lambda: {"informant-openid": {ACCOUNT}}       # type: ignore[method-assign]
    assert await console.answer("wx", "stranger", f"已转载 {d.id} http://x.example/a.html") is None
    reply = await console.answer("wx", "informant-openid", f"已转载 {d.id}")
    assert reply is not None and "格式" in reply
    assert await console.answer("wx", "informant-openid", "状态") is None      # nothing else for them
    base = env.column_url.rsplit("/zzbz/", 1)[0]
    wrong = env.column.publish("ezsj", "关于开展2026年度内部审计工作的通知")
    reply = await console.answer("wx", "informant-openid", f"已转载 {d.id} {base}/art/{wrong.n}.html")
    assert reply is not None and "未找到稿件标题" in reply
    reply = await console.answer("wx", "informant-openid", f"已转载 {d.id + 100} {base}/art/{wrong.n}.html")
    assert reply is not None and "未找到需要本单位转载的投递" in reply
    right = env.column.publish("ezsj", TITLE)
    reply = await console.answer("wx", "informant-openid", f"已转载 #{d.id}，{base}/art/{right.n}.html")
    assert reply is not None and "已核对" in reply, reply
    await hub.dispatcher.wait_idle()
    assert (await env.delivery()).state.value == "delivered"
    reply = await console.answer("wx", "admin-openid", f"已转载 {d.id} {base}/art/{right.n}.html")
    assert reply is not None and "已确认转载" in reply
