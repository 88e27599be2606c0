"""The WeChat admin console: every command in Chinese and English (full-width too), admins only,
audited actions, short replies, and a signed "状态" through the real callback handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from channels.wechat.callback import make_wechat_callback
from core.clock import FakeClock
from core.models import DelayKind, DelayRecord, Item
from syndicator.calendar import WorkCalendar
from syndicator.config import ConsoleSettings, Settings
from syndicator.console import MAX_REPLY_BYTES, UNKNOWN, Command, Console, parse
from syndicator.operations import Operations
from syndicator.status import collect_status
from syndicator.store import PlannedDelivery, Store
from tests.fakes import MemoryKeyValue
from tests.wechat_support import AES_KEY, APPID, TOKEN, account, serve, wx_encrypted

ADMIN = "oAbCdEfGhIjKlMnOpQrStUv_adm1"
OTHER = "oAbCdEfGhIjKlMnOpQrStUv_cit9"
REASON = "已由市政府网站统一转载（见通知）"


@dataclass
class Rig:
    console: Console
    store: Store
    clock: FakeClock
    ids: dict[str, int]          # "overdue", "failed", "later" -> delivery id (all on wx-fgw)


def settings_for(tmp_path: Path) -> Settings:
    return Settings.model_validate({"base_dir": tmp_path, "units": [{"id": "fgw", "name": "市发展改革委", "accounts": [
        {"id": "wx-fgw", "kind": "wechat"}, {"id": "wb-fgw", "kind": "weibo"}]}]})


async def add(store: Store, clock: FakeClock, n: int, due_in: timedelta, title: str) -> dict[str, int]:
    item = Item(source_id="gov", guid=f"g{n}", url=f"https://www.gov.cn/zhengce/{n}.htm", title=title,
                detected_at=clock.now(), canonical_url=f"https://www.gov.cn/zhengce/{n}.htm", content_hash=f"h{n}",
                content=f"<p>{n}</p>")
    planned = [PlannedDelivery("fgw", a, k, clock.now() + due_in)
               for a, k in (("wx-fgw", "wechat"), ("wb-fgw", "weibo"))]
    result = await store.ingest(item, clock.now(), "detected", planned, clock.now())
    return {d.account_id: d.id for d in await store.deliveries(item_id=result.item_id)}  # type: ignore[misc]


@pytest.fixture
async def rig(sqlite_store: Store, clock: FakeClock, tmp_path: Path) -> Rig:
    store, settings = sqlite_store, settings_for(tmp_path)
    overdue = await add(store, clock, 1, timedelta(hours=-2), "国务院办公厅关于进一步优化政务服务提升行政效能的意见")
    failed = await add(store, clock, 2, timedelta(hours=5), "国务院关于印发《推动大规模设备更新行动方案》的通知")
    later = await add(store, clock, 3, timedelta(days=2), "国务院办公厅关于做好冬春季节能工作的通知")
    for d in await store.claim_due(clock.now(), "test", {"wx-fgw": 10}, 10):
        if d.id == failed["wx-fgw"]:
            await store.mark_failed(d.id, clock.now(), "正文内容不合法（例如含有外部图片链接）（错误码 45166）")
        else:
            await store.release([d.id], clock.now())        # type: ignore[list-item]
    await store.add_delay(DelayRecord(
        delivery_id=overdue["wx-fgw"], kind=DelayKind.OVERDUE, recorded_at=clock.now(),
        reason="已超过截止时间2小时仍未发布；原因：微信接口暂时不可用", late_clock_hours=2.0))
    ops = Operations(settings, store, clock)
    console = Console(ops, lambda: collect_status(store, settings, WorkCalendar(), clock),
                      ConsoleSettings(admins=[ADMIN]), clock)
    return Rig(console, store, clock, {"overdue": overdue["wx-fgw"], "failed": failed["wx-fgw"],
                                       "later": later["wx-fgw"]})


async def ask(rig: Rig, text: str, who: str = ADMIN, account_id: str = "wx-fgw") -> str | None:
    return await rig.console.answer(account_id, who, text)


async def state_of(rig: Rig, delivery_id: int) -> str:
    d = await rig.store.get_delivery(delivery_id)
    assert d is not None
    return d.state.value


def test_parse_folds_full_width_and_keeps_typed_reasons() -> None:
    assert parse("ｓｔａｔｕｓ") == parse("Status") == parse("状态") == Command("status", "", "")
    assert parse("重试　＃１２") == Command("retry", "#12", "＃１２")
    cmd = parse("跳过１２，已由市政府网站统一转载（见通知）")
    assert cmd is not None and cmd.name == "skip" and cmd.raw.endswith("已由市政府网站统一转载（见通知）")
    assert parse("statusx") is None and parse("您好，请问办事指南在哪里") is None


@pytest.mark.parametrize("text", ["帮助", "help", "HELP", "？", "ｈｅｌｐ"])
async def test_help(rig: Rig, text: str) -> None:
    reply = await ask(rig, text)
    assert reply and reply.startswith("管理命令") and "跳过 N 理由" in reply and "retry N" in reply


@pytest.mark.parametrize("text", ["状态", "status", "Status", "ＳＴＡＴＵＳ", "　状态　"])
async def test_status(rig: Rig, text: str) -> None:
    reply = await ask(rig, text)
    assert reply is not None
    assert reply.splitlines()[0] == "转载中枢状态（北京时间 11-25 10:00）"
    assert "未完成 5 条：已逾期 2，24小时内到期 1" in reply and "失败 1" in reply  # failed ones are not "due"
    assert f"最早截止：#{rig.ids['overdue']} wx-fgw 11-25 08:00（已逾期）" in reply


@pytest.mark.parametrize("text", ["延误", "delays", "Delays", "ｄｅｌａｙｓ"])
async def test_delays(rig: Rig, text: str) -> None:
    reply = await ask(rig, text)
    assert reply is not None and reply.startswith("最近24小时延误记录 1 条")
    assert f"#{rig.ids['overdue']} wx-fgw 已超时未发布 超时2小时" in reply and "微信接口暂时不可用" in reply
    rig.clock.advance(hours=25)
    assert await ask(rig, text) == "最近24小时没有延误记录。"


@pytest.mark.parametrize("text", ["待办", "todo", "TODO", "ｔｏｄｏ"])
async def test_todo(rig: Rig, text: str) -> None:
    reply = await ask(rig, text)
    assert reply is not None
    lines = reply.splitlines()
    assert lines[0].startswith("待办 6 条（含发送失败），截止最早的 5 条")
    assert lines[1].endswith("截止11-25 08:00（已逾期）")                       # Beijing time, 2 h ago
    assert any(f"#{rig.ids['failed']} wx-fgw 发送失败 截止11-25 15:00" in line for line in lines)
    assert "错误：正文内容不合法" in reply and "《国务院办公厅关于进一步优化政务服务…》" in reply
    assert lines[-1] == "可回复：重试 N / 跳过 N 理由"


@pytest.mark.parametrize("text", ["重试 {id}", "retry {id}", "重试　＃{fw}", "Retry{id}"])
async def test_retry_is_done_and_audited(rig: Rig, text: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    failed = rig.ids["failed"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in str(failed))
    reply = await ask(rig, text.format(id=failed, fw=full_width))
    assert reply == f"投递 #{failed} 已重新排队"
    assert await state_of(rig, failed) == "pending"
    audit = (await rig.store.recent_alerts(1))[0]
    assert audit["subject"] == "operator:微信管理员 …adm1" and f"#{failed}" in audit["message"]
    assert ADMIN not in audit["message"] + audit["subject"] + reply + caplog.text


async def test_retry_several_and_bad_input(rig: Rig) -> None:
    reply = await ask(rig, f"重试 {rig.ids['failed']}，9999")
    assert reply == f"投递 #{rig.ids['failed']} 已重新排队\n未执行：投递 #9999 不存在或已完成，无法重试"
    assert (await ask(rig, "重试 第一条") or "").startswith("用法：重试 N")
    assert (await ask(rig, "retry") or "").startswith("用法：重试 N")


@pytest.mark.parametrize("text", ["跳过 {id}", "skip {id}", "跳过　{id}　", "skip #{id}"])
async def test_skip_without_reason_is_refused(rig: Rig, text: str) -> None:
    reply = await ask(rig, text.format(id=rig.ids["later"]))
    assert reply is not None and reply.startswith("跳过必须填写理由")
    assert await state_of(rig, rig.ids["later"]) == "pending"
    assert (await ask(rig, "跳过 理由是重复") or "").startswith("用法：跳过 N 理由")


@pytest.mark.parametrize("text", ["跳过 {id} " + REASON, "skip {id} " + REASON, "跳过{fw}，" + REASON])
async def test_skip_with_reason(rig: Rig, text: str) -> None:
    later = rig.ids["later"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in str(later))
    reply = await ask(rig, text.format(id=later, fw=full_width))
    assert reply == f"投递 #{later} 已跳过：{REASON}"                      # full-width brackets kept as typed
    d = await rig.store.get_delivery(later)
    assert d is not None and d.state.value == "skipped" and d.note == f"{REASON}（微信管理员 …adm1）"
    audit = (await rig.store.recent_alerts(1))[0]
    assert audit["subject"] == "operator:微信管理员 …adm1"


@pytest.mark.parametrize(("pause", "resume"), [("暂停 wx-fgw 公众号改版", "恢复 wx-fgw"),
                                               ("pause WX-FGW 公众号改版", "resume wx-fgw"),
                                               ("暂停　ｗｘ－ｆｇｗ　公众号改版", "恢复　ｗｘ－ｆｇｗ")])
async def test_pause_and_resume(rig: Rig, pause: str, resume: str) -> None:
    reply = await ask(rig, pause)
    assert reply is not None and reply.startswith("渠道账号 wx-fgw 已暂停")
    assert (await rig.store.account_states())["wx-fgw"] == ("paused", "公众号改版（微信管理员 …adm1）")
    assert await state_of(rig, rig.ids["later"]) == "held"
    reply = await ask(rig, resume)
    assert reply is not None and reply.startswith("渠道账号 wx-fgw 已恢复")
    assert (await rig.store.account_states())["wx-fgw"][0] == "active"
    subjects = [a["subject"] for a in await rig.store.recent_alerts(2)]
    assert subjects == ["operator:微信管理员 …adm1"] * 2


async def test_pause_unknown_account_lists_the_known_ones(rig: Rig) -> None:
    assert await ask(rig, "暂停 wx-nope") == "未执行：没有启用的渠道账号 wx-nope\n可用账号：wb-fgw、wx-fgw"
    assert await ask(rig, "恢复") == "用法：恢复 账号，如：恢复 wx-fgw"


@pytest.mark.parametrize("text", ["状态", "帮助", "重试 {id}", "跳过 {id} 不想发", "暂停 wx-fgw", "您好"])
async def test_non_admins_get_no_answer_and_change_nothing(rig: Rig, text: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = await rig.store.recent_alerts(5)
    assert await ask(rig, text.format(id=rig.ids["failed"]), who=OTHER) is None
    assert await state_of(rig, rig.ids["failed"]) == "failed"
    assert await rig.store.recent_alerts(5) == before and "wx-fgw" not in await rig.store.account_states()
    assert OTHER not in caplog.text


async def test_only_the_console_account_answers(rig: Rig) -> None:
    rig.console.settings = ConsoleSettings(admins=[ADMIN], account="wx-console")
    assert await ask(rig, "状态") is None
    assert (await ask(rig, "状态", account_id="wx-console") or "").startswith("转载中枢状态")


async def test_unknown_command_and_failures(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    assert await ask(rig, "今天怎么样") == UNKNOWN

    async def broken() -> dict[str, Any]:
        raise RuntimeError("database is locked")

    rig.console.status_source = broken
    assert await ask(rig, "状态") == "命令执行出错，请稍后重试或登录管理后台查看。"
    assert ADMIN not in caplog.text


async def test_replies_fit_the_passive_reply_limit(rig: Rig) -> None:
    real = rig.console.status_source

    async def huge() -> dict[str, Any]:
        st = dict(await real())
        st["calendar_warnings"] = [f"第{i}条：2027年节假日安排尚未发布，截止时间按周末推算（暂定）" for i in range(200)]
        return st

    rig.console.status_source = huge
    reply = await ask(rig, "状态")
    assert reply is not None and reply.endswith("…")
    raw = reply.encode("utf-8")
    assert MAX_REPLY_BYTES - 3 <= len(raw) <= MAX_REPLY_BYTES <= 2048
    assert raw.decode("utf-8") == reply                                     # cut on a character boundary


# -- end to end: a signed text message through the real callback handler ---------------------------------
def text_xml(content: str, sender: str, msg_id: str, created: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


async def test_signed_status_message_gets_the_status_as_xml_reply(rig: Rig) -> None:
    async def on_hint(*_: object) -> None:
        return None

    handler = make_wechat_callback({"wx-fgw": account("http://unused")}, on_hint, rig.console.answer,
                                   MemoryKeyValue(rig.clock), clock=rig.clock)
    app = web.Application()
    app.router.add_route("*", "/wechat/callback/{account_id}", handler)
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    now = rig.clock.now().timestamp()

    async def ask(session: aiohttp.ClientSession, url: Any, content: str, sender: str, msg_id: str) -> str | None:
        """Safe mode both ways: the answer's text, or None for WeChat's empty "success"."""
        params, body = wx_encrypted(TOKEN, AES_KEY, APPID, text_xml(content, sender, msg_id, int(now)), now,
                                    openid=sender)
        async with session.post(url, params=params, data=body) as resp:
            assert resp.status == 200
            answer = await resp.text()
        if answer == "success":
            return None
        outer = xmltodict.parse(answer)["xml"]
        assert "Encrypt" in outer and content not in answer
        reply = xmltodict.parse(crypto.decrypt_message(answer, outer["MsgSignature"], outer["TimeStamp"],
                                                       outer["Nonce"]))["xml"]
        assert reply["ToUserName"] == sender and reply["MsgType"] == "text"
        return str(reply["Content"])

    async with serve(app) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        content = await ask(session, url, "状态", ADMIN, "1001")
        assert content and content.startswith("转载中枢状态（北京时间 11-25 10:00）") and "已逾期 2" in content
        assert await ask(session, url, "ｓｔａｔｕｓ", ADMIN, "1002") == content       # full-width folded
        assert await ask(session, url, "状态", OTHER, "1003") is None          # not an admin: WeChat shows nothing
