"""A manual unit's 信息员 reached by OpenID through the console account (WeChat look-alike)."""

from __future__ import annotations

import aiohttp
import pytest

from channels.base import PermanentError
from channels.manual.contacts import WechatOpenIdSender
from channels.wechat.client import WechatClient
from sandbox.wechat import build_app
from sandbox.wechat_messages import MESSAGES
from tests.fakes import make_context
from tests.wechat_support import account, serve

OPENID = "oInformant0000000000000abcd"


pytestmark = pytest.mark.usefixtures("fast_retries")


async def test_custom_message_then_template_then_a_visible_refusal() -> None:
    app = build_app(None)
    app[MESSAGES].templates = {"tpl-alert"}
    async with serve(app) as server, aiohttp.ClientSession() as session:
        client = WechatClient(account(str(server.make_url("")).rstrip("/")), make_context(session))
        await WechatOpenIdSender(client, OPENID, "tpl-alert").send("【转载任务】标题", "截止时间：…")
        assert app[MESSAGES].custom == [{"touser": OPENID, "content": "【转载任务】标题\n截止时间：…"}]
        app[MESSAGES].window_closed = {OPENID}                           # 45015: the 48 h window is closed
        await WechatOpenIdSender(client, OPENID, "tpl-alert").send("【转载任务】标题", "截止时间：…")
        assert app[MESSAGES].template[0]["touser"] == OPENID and app[MESSAGES].template[0]["template_id"] == "tpl-alert"
        sender = WechatOpenIdSender(client, OPENID, None)
        with pytest.raises(PermanentError) as exc:
            await sender.send("【转载任务】标题", "截止时间：…")
        assert "窗口已关闭" in exc.value.reason and OPENID not in exc.value.reason
        assert sender.describe().endswith("abcd")
