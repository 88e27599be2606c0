"""The WeChat server URL: signature, safe-mode round trip, de-duplication, publish results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.crypto import WeChatCrypto

from channels.base import AccountConfig
from channels.wechat.callback import make_wechat_callback
from core.clock import FakeClock
from sandbox.wechat import STATE, build_app
from tests.fakes import MemoryKeyValue, make_context
from tests.wechat_support import (
    AES_KEY,
    APPID,
    TOKEN,
    UNIT,
    account,
    channel,
    image_app,
    serve,
    state_council_item,
    wx_encrypted,
    wx_signed,
)

CLOCK_START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


class Hub:
    def __init__(self, slow_s: float = 0.0) -> None:
        self.hints: list[tuple[str, str]] = []
        self.texts: list[tuple[str, str, str]] = []
        self.refused: list[tuple[str, str]] = []
        self.slow_s = slow_s
        self.arrived = asyncio.Event()
        self.clock = FakeClock(CLOCK_START)

    async def on_hint(self, account_id: str, external_id: str) -> None:
        self.hints.append((account_id, external_id))
        self.arrived.set()

    async def on_text(self, account_id: str, openid: str, content: str) -> str | None:
        self.texts.append((account_id, openid, content))
        await asyncio.sleep(self.slow_s)
        return f"收到：{content}" if content != "静默" else None

    def now(self) -> float:
        return self.clock.now().timestamp()


def plain_account() -> AccountConfig:
    """An account in plain mode (明文模式): no EncodingAESKey."""
    a = account("http://unused")
    return a.model_copy(update={"id": "wx-plain", "credentials": {
        k: v for k, v in a.credentials.items() if k != "encoding_aes_key"}})


@asynccontextmanager
async def hub_server(hub: Hub, **kwargs: float) -> AsyncIterator[TestServer]:
    kv = MemoryKeyValue(hub.clock)
    handler = make_wechat_callback({"wx-fgw": account("http://unused"), "wx-plain": plain_account()},
                                   hub.on_hint, hub.on_text, kv, clock=hub.clock,
                                   refused=lambda a, r: hub.refused.append((a, r)), **kwargs)
    app = web.Application()
    app.router.add_route("GET", "/wechat/callback/{account_id}", handler)
    app.router.add_route("POST", "/wechat/callback/{account_id}", handler)
    async with serve(app) as server:
        yield server


def text_xml(content: str, msg_id: str = "24567890123456789", created: int = 0) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
            f"<CreateTime>{created or int(CLOCK_START.timestamp())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def publish_event(publish_id: str, status: int, created: int = 1795600000) -> str:
    detail = ("<article_id><![CDATA[ART]]></article_id><article_detail><count>1</count><item><idx>1</idx>"
              "<article_url><![CDATA[https://mp.weixin.qq.com/s/ART]]></article_url></item></article_detail>"
              if status == 0 else "<fail_idx>1</fail_idx>")
    return (f"<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo><publish_id>{publish_id}</publish_id>"
            f"<publish_status>{status}</publish_status>{detail}</PublishEventInfo></xml>")


def encrypted(hub: Hub, xml: str, **extra: str) -> tuple[dict[str, str], str]:
    return wx_encrypted(TOKEN, AES_KEY, APPID, xml, hub.now(), **extra)


async def post(session: aiohttp.ClientSession, url: Any, params: dict[str, str], body: str) -> tuple[int, str]:
    async with session.post(url, params=params, data=body) as resp:
        return resp.status, await resp.text()


async def reply_text(answer: str) -> str:
    outer = xmltodict.parse(answer)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(answer, outer["MsgSignature"], outer["TimeStamp"],
                                                                outer["Nonce"])
    return str(xmltodict.parse(plain)["xml"]["Content"])


async def test_get_echoes_after_signature_and_rejects_bad_ones() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        async with session.get(url, params=wx_signed(TOKEN, hub.now(), echostr="8814932112")) as resp:
            assert resp.status == 200 and await resp.text() == "8814932112"
        bad = {**wx_signed(TOKEN, hub.now(), echostr="1"), "signature": "0" * 40}
        async with session.get(url, params=bad) as resp:
            assert resp.status == 403 and await resp.text() == "forbidden"
        async with session.get(server.make_url("/wechat/callback/nobody"), params=wx_signed(TOKEN, hub.now())) as resp:
            assert resp.status == 404
    assert hub.refused == [("wx-fgw", "bad_signature"), ("", "unknown_account")]


async def test_publish_job_finish_is_a_hint_given_once() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        for _ in range(2):                                     # WeChat retries: same event twice
            assert await post(session, url, *encrypted(hub, publish_event("2247483101", 0))) == (200, "success")
        assert await post(session, url, *encrypted(hub, publish_event("2247483102", 4))) == (200, "success")
        await asyncio.sleep(0.01)
    # only the ids: the outcome is asked of the platform (Dispatcher.hint), never read from the event
    assert hub.hints == [("wx-fgw", "2247483101"), ("wx-fgw", "2247483102")]


async def test_text_is_answered_and_deduplicated_by_msgid() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        answers = []
        for _ in range(2):                                     # a retry: new nonce, same MsgId
            params, body = encrypted(hub, text_xml("状态"), openid="o_admin_1")
            async with session.post(url, params=params, data=body) as resp:
                answers.append(await reply_text(await resp.text()))
        assert len(hub.texts) == 1 and hub.texts[0] == ("wx-fgw", "o_admin_1", "状态")
        assert answers == ["收到：状态", "收到：状态"]
        params, body = encrypted(hub, text_xml("静默", "2"))
        async with session.post(url, params=params, data=body) as resp:
            assert await resp.text() == "success"


async def test_slow_text_handler_does_not_hold_the_answer() -> None:
    hub = Hub(slow_s=0.08)
    async with hub_server(hub, reply_timeout_s=0.01) as server, aiohttp.ClientSession() as session:
        params, body = encrypted(hub, text_xml("延误"))
        async with session.post(server.make_url("/wechat/callback/wx-fgw"), params=params, data=body) as resp:
            assert await resp.text() == "success"
        assert hub.texts == [("wx-fgw", "o_admin_1", "延误")]


async def test_safe_mode_round_trip_and_bad_msg_signature() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        params, envelope = encrypted(hub, text_xml("待办"))
        url = server.make_url("/wechat/callback/wx-fgw")
        async with session.post(url, params=params, data=envelope) as resp:
            answer = await resp.text()
        assert "Encrypt" in xmltodict.parse(answer)["xml"] and "待办" not in answer
        assert await reply_text(answer) == "收到：待办"
        params, envelope = encrypted(hub, text_xml("待办", "3"))
        async with session.post(url, params={**params, "msg_signature": "f" * 40}, data=envelope) as resp:
            assert resp.status == 403
        assert len(hub.texts) == 1
    assert hub.refused == [("wx-fgw", "bad_msg_signature")]


async def test_bad_signature_and_entity_bodies_are_refused() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-plain")
        async with session.post(url, params={**wx_signed(TOKEN, hub.now()), "signature": "x"},
                                data=text_xml("状态")) as resp:
            assert resp.status == 403 and await resp.text() == "forbidden"
        bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + text_xml("&a;")
        async with session.post(url, params=wx_signed(TOKEN, hub.now()), data=bomb) as resp:
            assert resp.status == 400
        assert hub.texts == []
    assert hub.refused == [("wx-plain", "bad_signature"), ("wx-plain", "bad_body")]


@pytest.mark.usefixtures("fast_retries")
async def test_sandbox_sends_an_encrypted_publish_event_to_the_hub() -> None:
    hub = Hub()
    async with hub_server(hub) as hub_srv, serve(image_app()) as images, aiohttp.ClientSession() as session:
        callback_url = str(hub_srv.make_url("/wechat/callback/wx-fgw"))
        async with serve(build_app(callback_url=callback_url, callback_token=TOKEN, publish_delay_s=0.02,
                                   callback_aes_key=AES_KEY, now=hub.now)) as wx:
            ch = channel(wx, make_context(session))
            receipt = await ch.publish(state_council_item(str(images.make_url("")).rstrip("/")), UNIT, "k1")
            await asyncio.wait_for(hub.arrived.wait(), 2)
            for _ in range(100):                       # the sandbox records the answer after reading it
                if wx.app[STATE].events_sent:
                    break
                await asyncio.sleep(0.01)
            (sent,) = wx.app[STATE].events_sent
        assert hub.hints == [("wx-fgw", receipt.external_id)] and hub.refused == []
        assert sent["http_status"] == 200


async def test_mass_send_job_finish_is_a_hint() -> None:
    hub = Hub()
    xml = ("<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
           "<CreateTime>1795600100</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000000003</MsgID>"
           "<Status><![CDATA[send success]]></Status><TotalCount>4</TotalCount><ArticleUrlResult><Count>1</Count>"
           "<ResultList><item><ArticleIdx>1</ArticleIdx><ArticleUrl><![CDATA[http://mp.weixin.qq.com/s/8x]]>"
           "</ArticleUrl></item></ResultList></ArticleUrlResult></xml>")
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        params, body = encrypted(hub, xml)
        async with session.post(server.make_url("/wechat/callback/wx-fgw"), params=params, data=body) as resp:
            assert await resp.text() == "success"
        await asyncio.wait_for(hub.arrived.wait(), 1)
    assert hub.hints == [("wx-fgw", "mass:1000000003")]


def test_registry_resolves_wechat() -> None:
    from channels.registry import channel_class
    from channels.wechat import WechatChannel

    assert channel_class("wechat") is WechatChannel
