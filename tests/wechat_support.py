"""Shared pieces for the WeChat tests: sandbox servers, an image host, accounts and a realistic item."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, check_signature

from channels.base import AccountConfig, ChannelContext
from channels.wechat import WechatChannel
from channels.wechat.media import solid_png
from core.models import Item, UnitRef
from sandbox.common import RECORDER

APPID, SECRET, TOKEN = "wx-sandbox", "sandbox-appsecret", "sandbox-token"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
UNIT = UnitRef(id="ezhou-fgw", name="鄂州市发展和改革委员会")
LONG_TITLE = "国务院办公厅关于印发《推动大规模设备更新和消费品以旧换新行动方案》重点任务分工及实施细则的通知"
PNG = solid_png(40, 30, (10, 120, 200))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 600
BIG_PNG = PNG + b"\x00" * (1024 * 1024)
GIF = b"GIF89a" + b"\x00" * 100


def wx_signed(token: str, when: float, *, nonce: str | None = None, **extra: str) -> dict[str, str]:
    """Callback query parameters as WeChat sends them, signed with wechatpy's own signer (and checked with
    wechatpy's check_signature, so the test and the SDK agree on the scheme)."""
    timestamp, nonce = str(int(when)), nonce or secrets.token_hex(5)
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    check_signature(token, signer.signature, timestamp, nonce)
    return {"timestamp": timestamp, "nonce": nonce, "signature": signer.signature, **extra}


def wx_encrypted(token: str, aes_key: str, appid: str, xml: str, when: float, *,
                 nonce: str | None = None, **extra: str) -> tuple[dict[str, str], str]:
    """A safe-mode callback: parameters with encrypt_type=aes and msg_signature, and the <Encrypt> body,
    made by wechatpy's WeChatCrypto."""
    params = wx_signed(token, when, nonce=nonce, encrypt_type="aes", **extra)
    envelope = WeChatCrypto(token, aes_key, appid).encrypt_message(xml, params["nonce"], params["timestamp"])
    return {**params, "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"]}, envelope


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestServer]:
    server = TestServer(app)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def image_app() -> web.Application:
    files = {"a.png": PNG, "b.jpg": JPEG, "big.png": BIG_PNG, "anim.gif": GIF}

    async def image(request: web.Request) -> web.Response:
        data = files.get(request.match_info["name"])
        return web.Response(body=data, content_type="image/png") if data else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/img/{name}", image)
    return app


def state_council_item(image_base: str, *, title: str = LONG_TITLE, extra: str = "") -> Item:
    body = f"""
    <style>.TRS_Editor P {{ font-size: 16px; }}</style>
    <script>alert("x")</script>
    <div class="pages_content">
      <p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>
      <p>《推动大规模设备更新和消费品以旧换新行动方案》已经国务院同意，现印发给你们，请认真贯彻执行。</p>
      <p align="center"><img src="{image_base}/img/a.png" alt="图1"></p>
      <table border="1"><tr><th>序号</th><th>任务</th><th>牵头单位</th></tr>
        <tr><td>1</td><td>实施设备更新行动</td><td>国家发展改革委、工业和信息化部</td></tr></table>
      <p>详见<a href="https://www.gov.cn/zhengce/other.htm" onclick="steal()">附件</a>。</p>
      <iframe src="https://evil.example/x"></iframe>
      <p><img src="{image_base}/img/b.jpg"><img src="{image_base}/img/a.png"></p>
      {extra}
      <p>国务院办公厅<br>2024年3月27日</p>
    </div>"""
    return Item(source_id="gov-zuixin", guid="content_6941846", url="https://www.gov.cn/zhengce/content/202403/content_6941846.htm",
                title=title, detected_at=datetime(2026, 11, 25, 1, 30, tzinfo=UTC), content=body,
                origin="中国政府网", authority="国务院办公厅")


def account(base_url: str, **options: object) -> AccountConfig:
    return AccountConfig(id="wx-fgw", kind="wechat", base_url=base_url, options=dict(options),
                         credentials={"appid": APPID, "appsecret": SECRET, "token": TOKEN,
                                      "encoding_aes_key": AES_KEY})


def channel(server: TestServer, ctx: ChannelContext, **options: object) -> WechatChannel:
    return WechatChannel(account(str(server.make_url("")).rstrip("/"), **options), ctx)


def received(server: TestServer, path: str) -> list[dict]:
    return [e for e in server.app[RECORDER].entries if e["path"] == f"/cgi-bin/{path}"]
