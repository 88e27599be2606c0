"""The console wired into a running hub: an admin's "状态" through the hub's callback route gets
the hub's own status, and a hub alert is pushed to the admins through the WeChat account."""

from __future__ import annotations

import xmltodict
from wechatpy.crypto import WeChatCrypto

from sandbox import wechat as wechat_box
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import build_app as build_webhook
from sandbox.wechat_messages import MESSAGES
from syndicator.app import Hub
from syndicator.web import start_web
from tests.hub_support import drain, hub_settings, rss_source
from tests.wechat_support import AES_KEY, wx_encrypted

ADMIN = "oAdminOpenId0000000000000001"
TOKEN = "console-callback-token"


async def test_console_answers_and_alerts_reach_admins(serve, tmp_path, clock, session) -> None:
    state = UpstreamState()
    state.publish("国务院关于管理控制台测试的通知")
    upstream = await serve(build_upstream(state))
    wechat_app = wechat_box.build_app(appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"])
    wechat = await serve(wechat_app)
    receiver = await serve(build_webhook("the-receivers-secret"))
    units = [{"id": "u0", "name": "鄂州市政府办公室", "accounts": [
        {"id": "u0-wechat", "kind": "wechat", "base_url": wechat,
         "credentials": {"appid": DEMO_SECRETS["wechat_appid"], "appsecret": DEMO_SECRETS["wechat_secret"],
                         "token": TOKEN, "encoding_aes_key": AES_KEY}},
        {"id": "u0-hook", "kind": "webhook", "credentials": {"secret": "a-wrong-secret"},
         "options": {"url": f"{receiver}/hooks/u0"}}]}]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units)
    settings.console.admins = [ADMIN]
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub.web_app(), hub.settings.web)
        try:
            await hub.watcher.poll(settings.sources[0])
            await drain(hub)                      # the webhook rejects our signature: held + alert
            await hub.notifier.drain()
            pushed = wechat_app[MESSAGES].custom
            assert [m["touser"] for m in pushed] == [ADMIN] and "重新授权" in pushed[0]["content"]

            url = f"http://127.0.0.1:{runner.addresses[0][1]}/wechat/callback/u0-wechat"
            now = clock.now().timestamp()
            xml = (f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{ADMIN}]]></FromUserName>"
                   f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                   "<Content><![CDATA[状态]]></Content><MsgId>42</MsgId></xml>")
            params, body = wx_encrypted(TOKEN, AES_KEY, DEMO_SECRETS["wechat_appid"], xml, now, openid=ADMIN)
            async with session.post(url, params=params, data=body) as resp:
                outer = xmltodict.parse(await resp.text())["xml"]
            plain = WeChatCrypto(TOKEN, AES_KEY, DEMO_SECRETS["wechat_appid"]).decrypt_message(
                await resp.text(), outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
            reply = xmltodict.parse(plain)["xml"]
            assert reply["ToUserName"] == ADMIN and "转载中枢状态" in reply["Content"]
            assert "暂停" in reply["Content"] or "授权" in reply["Content"] or "待发" in reply["Content"]
        finally:
            await runner.cleanup()
