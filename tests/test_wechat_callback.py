"""The WeChat server URL: signature, safe-mode round trip, de-duplication, publish results."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.crypto import WeChatCrypto

from channels.base import ChannelError, PermanentError, Receipt
from channels.wechat.callback import make_wechat_callback, sign
from channels.wechat.client import WechatClient
from sandbox.wechat import build_app
from syndicator.clock import FakeClock
from tests.fakes import MemoryKeyValue, make_context
from tests.wechat_support import AES_KEY, APPID, TOKEN, UNIT, account, channel, image_app, serve, state_council_item


class Hub:
    def __init__(self, slow_s: float = 0.0) -> None:
        self.results: list[tuple[str, str, Receipt | ChannelError]] = []
        self.texts: list[tuple[str, str, str]] = []
        self.slow_s = slow_s
        self.arrived = asyncio.Event()

    async def on_publish_result(self, account_id: str, external_id: str, result: Receipt | ChannelError) -> None:
        self.results.append((account_id, external_id, result))
        self.arrived.set()

    async def on_text(self, account_id: str, openid: str, content: str) -> str | None:
        self.texts.append((account_id, openid, content))
        await asyncio.sleep(self.slow_s)
        return f"收到：{content}" if content != "静默" else None


@asynccontextmanager
async def hub_server(hub: Hub, **kwargs: float) -> AsyncIterator[TestServer]:
    kv = MemoryKeyValue(FakeClock(datetime(2026, 11, 25, tzinfo=UTC)))
    handler = make_wechat_callback({"wx-fgw": account("http://unused")}, hub.on_publish_result, hub.on_text,
                                   kv, **kwargs)
    app = web.Application()
    app.router.add_route("GET", "/wechat/callback/{account_id}", handler)
    app.router.add_route("POST", "/wechat/callback/{account_id}", handler)
    async with serve(app) as server:
        yield server


def signed(**extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(4)
    return {"timestamp": timestamp, "nonce": nonce, "signature": sign(TOKEN, timestamp, nonce), **extra}


def text_xml(content: str, msg_id: str = "24567890123456789") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def publish_event(publish_id: str, status: int, created: int = 1795600000) -> str:
    detail = ("<article_id><![CDATA[ART]]></article_id><article_detail><count>1</count><item><idx>1</idx>"
              "<article_url><![CDATA[https://mp.weixin.qq.com/s/ART]]></article_url></item></article_detail>"
              if status == 0 else "<fail_idx>1</fail_idx>")
    return (f"<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo><publish_id>{publish_id}</publish_id>"
            f"<publish_status>{status}</publish_status>{detail}</PublishEventInfo></xml>")


async def test_get_echoes_after_signature_and_rejects_bad_ones() -> None:
    async with hub_server(Hub()) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        async with session.get(url, params=signed(echostr="8814932112")) as resp:
            assert resp.status == 200 and await resp.text() == "8814932112"
        bad = {**signed(echostr="1"), "signature": "0" * 40}
        async with session.get(url, params=bad) as resp:
            assert resp.status == 403 and await resp.text() == "forbidden"
        async with session.get(server.make_url("/wechat/callback/nobody"), params=signed()) as resp:
            assert resp.status == 404


async def test_publish_job_finish_reaches_the_hub_once() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        for _ in range(2):                                     # WeChat retries: same event twice
            async with session.post(url, params=signed(), data=publish_event("2247483101", 0)) as resp:
                assert await resp.text() == "success"
        async with session.post(url, params=signed(), data=publish_event("2247483102", 4)) as resp:
            assert await resp.text() == "success"
        await asyncio.sleep(0.01)
        assert [(a, e) for a, e, _ in hub.results] == [("wx-fgw", "2247483101"), ("wx-fgw", "2247483102")]
        ok, rejected = hub.results[0][2], hub.results[1][2]
        assert isinstance(ok, Receipt) and ok.url == "https://mp.weixin.qq.com/s/ART"
        assert isinstance(rejected, PermanentError) and "审核不通过" in rejected.reason


async def test_text_is_answered_and_deduplicated_by_msgid() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        answers = []
        for _ in range(2):
            async with session.post(url, params=signed(openid="o_admin_1"), data=text_xml("状态")) as resp:
                answers.append(xmltodict.parse(await resp.text())["xml"])
        assert len(hub.texts) == 1 and hub.texts[0] == ("wx-fgw", "o_admin_1", "状态")
        assert answers[0]["Content"] == answers[1]["Content"] == "收到：状态"
        assert answers[0]["ToUserName"] == "o_admin_1" and answers[0]["FromUserName"] == "gh_fgw"
        async with session.post(url, params=signed(), data=text_xml("静默", "2")) as resp:
            assert await resp.text() == "success"


async def test_slow_text_handler_does_not_hold_the_answer() -> None:
    hub = Hub(slow_s=0.08)
    async with hub_server(hub, reply_timeout_s=0.01) as server, aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/wechat/callback/wx-fgw"), params=signed(),
                                data=text_xml("延误")) as resp:
            assert await resp.text() == "success"
        assert hub.texts == [("wx-fgw", "o_admin_1", "延误")]


async def test_safe_mode_round_trip() -> None:
    hub = Hub()
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        params = signed(encrypt_type="aes")
        envelope = crypto.encrypt_message(text_xml("待办"), params["nonce"], params["timestamp"])
        msg_signature = xmltodict.parse(envelope)["xml"]["MsgSignature"]
        url = server.make_url("/wechat/callback/wx-fgw")
        async with session.post(url, params={**params, "msg_signature": msg_signature}, data=envelope) as resp:
            answer = await resp.text()
        outer = xmltodict.parse(answer)["xml"]
        assert "Encrypt" in outer and "待办" not in answer
        plain = crypto.decrypt_message(answer, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        assert xmltodict.parse(plain)["xml"]["Content"] == "收到：待办"
        async with session.post(url, params={**params, "msg_signature": "f" * 40}, data=envelope) as resp:
            assert resp.status == 403
        assert len(hub.texts) == 1


async def test_bad_signature_and_entity_bodies_are_refused() -> None:
    hub = Hub()
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        url = server.make_url("/wechat/callback/wx-fgw")
        async with session.post(url, params={**signed(), "signature": "x"}, data=text_xml("状态")) as resp:
            assert resp.status == 403 and await resp.text() == "forbidden"
        bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + text_xml("&a;")
        async with session.post(url, params=signed(), data=bomb) as resp:
            assert resp.status == 400
        assert hub.texts == []


async def test_sandbox_posts_publish_result_to_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WechatClient, "RETRY_WAIT_S", 0.0)
    hub = Hub()
    async with hub_server(hub) as hub_srv, serve(image_app()) as images, aiohttp.ClientSession() as session:
        callback_url = str(hub_srv.make_url("/wechat/callback/wx-fgw"))
        async with serve(build_app(callback_url=callback_url, callback_token=TOKEN, publish_delay_s=0.02)) as wx:
            ch = channel(wx, make_context(session))
            receipt = await ch.publish(state_council_item(str(images.make_url("")).rstrip("/")), UNIT, "k1")
            await asyncio.wait_for(hub.arrived.wait(), 2)
        account_id, external_id, result = hub.results[0]
        assert (account_id, external_id) == ("wx-fgw", receipt.external_id)
        assert isinstance(result, Receipt) and result.url and result.url.startswith("https://mp.weixin.qq.com/s/")


async def test_mass_send_job_finish_maps_status() -> None:
    hub = Hub()
    xml = ("<xml><ToUserName><![CDATA[gh_fgw]]></ToUserName><FromUserName><![CDATA[o_admin_1]]></FromUserName>"
           "<CreateTime>1795600100</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000000003</MsgID>"
           "<Status><![CDATA[send success]]></Status><TotalCount>4</TotalCount><ArticleUrlResult><Count>1</Count>"
           "<ResultList><item><ArticleIdx>1</ArticleIdx><ArticleUrl><![CDATA[http://mp.weixin.qq.com/s/8x]]>"
           "</ArticleUrl></item></ResultList></ArticleUrlResult></xml>")
    async with hub_server(hub) as server, aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/wechat/callback/wx-fgw"), params=signed(), data=xml) as resp:
            assert await resp.text() == "success"
        await asyncio.wait_for(hub.arrived.wait(), 1)
    (_, external_id, result), = hub.results
    assert external_id == "mass:1000000003"
    assert isinstance(result, Receipt) and result.url == "http://mp.weixin.qq.com/s/8x"


def test_registry_resolves_wechat() -> None:
    from channels.registry import channel_class
    from channels.wechat import WechatChannel

    assert channel_class("wechat") is WechatChannel
