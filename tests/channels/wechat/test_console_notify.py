"""Alert pushes to console admins against the WeChat look-alike: customer-service text first, template
message when the 48-hour window is closed (45015) or spent (45047), bursts collapsed, errors only logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from channels.wechat.client import WechatClient
from channels.wechat.notify import WechatAdminNotifier, clip_bytes, template_value
from sandbox.common import Faults
from sandbox.wechat import build_app
from sandbox.wechat_messages import MESSAGES, MessageState
from syndicator.config import ConsoleSettings
from tests.fakes import make_context
from tests.wechat_support import account, received, serve

ADMINS = ["oAbCdEfGhIjKlMnOpQrStUv_adm1", "oAbCdEfGhIjKlMnOpQrStUv_adm2"]
ALERT = "【已超时】ezhou-fgw《国务院办公厅关于进一步优化政务服务提升行政效能的意见》（投递 #12）：微信接口暂时不可用"


@dataclass
class Rig:
    notifier: WechatAdminNotifier
    msgs: MessageState
    server: object


pytestmark = pytest.mark.usefixtures("fast_retries")


@asynccontextmanager
async def rig(template_id: str | None = "tpl-alert", *, faults: Faults | None = None,
              min_interval_s: float = 60.0) -> AsyncIterator[Rig]:
    app = build_app(faults)
    async with serve(app) as server, aiohttp.ClientSession() as session:
        client = WechatClient(account(str(server.make_url("")).rstrip("/")), make_context(session))
        notifier = WechatAdminNotifier(client, ADMINS, template_id, min_interval_s=min_interval_s)
        app[MESSAGES].templates = {"tpl-alert"}
        try:
            yield Rig(notifier, app[MESSAGES], server)
        finally:
            await notifier.close()


async def test_custom_message_reaches_every_admin() -> None:
    async with rig() as r:
        await r.notifier.notify(ALERT)
        await r.notifier.drain()
        assert r.msgs.custom == [{"touser": a, "content": ALERT} for a in ADMINS]
        assert r.msgs.template == [] and r.notifier.sent == {"custom": 2, "template": 0, "failed": 0}
        sent = received(r.server, "message/custom/send")  # type: ignore[arg-type]
        assert sent[0]["body"] == {"touser": ADMINS[0], "msgtype": "text", "text": {"content": ALERT}}


@pytest.mark.parametrize("closed", ["window", "quota"])
async def test_closed_window_falls_back_to_the_template(closed: str) -> None:
    async with rig() as r:
        if closed == "window":
            r.msgs.window_closed = {ADMINS[0]}                      # 45015: no message from this admin for 48 h
        else:
            r.msgs.custom_quota = 0                                 # 45047: the window's messages are spent
        await r.notifier.notify(ALERT)
        await r.notifier.drain()
        expected = {"thing1": "【已超时】ezhou-fgw《国务院办…", "time2": "2026年11月25日 10:00"}
        assert r.msgs.template[0] == {"touser": ADMINS[0], "template_id": "tpl-alert", "data": expected}
        assert len(r.msgs.template) == (1 if closed == "window" else 2)
        assert [m["touser"] for m in r.msgs.custom] == ([ADMINS[1]] if closed == "window" else [])
        body = received(r.server, "message/template/send")[0]["body"]  # type: ignore[arg-type]
        assert len(body["client_msg_id"]) == 32 and "first" not in body["data"] and "remark" not in body["data"]


async def test_closed_window_without_template_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async with rig(template_id=None) as r:
        r.msgs.window_closed = set(ADMINS)
        await r.notifier.notify(ALERT)
        await r.notifier.drain()
        assert r.msgs.custom == r.msgs.template == []
        assert r.notifier.sent["failed"] == 2
    assert "no alert_template_id is set" in caplog.text and "…adm1" in caplog.text
    assert not any(a in caplog.text for a in ADMINS)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 3 s")


async def test_burst_collapses_into_one_push_with_a_count() -> None:
    async with rig(min_interval_s=0.5) as r:
        def mine() -> list[str]:
            return [m["content"] for m in r.msgs.custom if m["touser"] == ADMINS[0]]

        started = time.monotonic()
        for i in range(1, 7):
            await r.notifier.notify(f"告警{i}")
        assert time.monotonic() - started < 0.1                      # notify never waits for WeChat
        await until(lambda: len(r.msgs.custom) == 2)
        assert mine() == ["告警1"]                                    # the rest are held, not sent
        await r.notifier.drain()
        assert len(mine()) == 2 and len(r.msgs.custom) == 4
        assert mine()[1] == ("【告警汇总】刚才又有 5 条告警，最近 3 条：\n1. 告警6\n2. 告警5\n3. 告警4\n"
                             "发送“延误”或“待办”查看详情。")
        await r.notifier.notify("告警7")                             # inside the interval again: held
        await asyncio.sleep(0.1)
        assert len(r.msgs.custom) == 4
        await r.notifier.drain()
        assert mine()[-1] == "告警7"                                  # a single held alert goes out as it is
        await asyncio.sleep(0.55)                                    # quiet long enough: sent at once
        await r.notifier.notify("告警8")
        await until(lambda: len(r.msgs.custom) == 8)
        assert mine()[-1] == "告警8"


@pytest.mark.parametrize("problem", ["outage", "bad_template", "auth"])
async def test_errors_never_reach_the_caller(problem: str, caplog: pytest.LogCaptureFixture) -> None:
    faults = Faults(outages=[(0.0, 600.0)]) if problem == "outage" else Faults(script=[40125] * 4) \
        if problem == "auth" else None
    async with rig("tpl-unknown" if problem == "bad_template" else "tpl-alert", faults=faults) as r:
        r.msgs.window_closed = set(ADMINS)
        await r.notifier.notify(ALERT)
        await r.notifier.drain()
        assert r.msgs.template == [] and r.notifier.sent["failed"] == 2
    assert "admin notifier: push to …adm1 failed" in caplog.text
    assert not any(a in caplog.text for a in ADMINS)


async def test_long_alerts_are_cut_to_the_text_limit() -> None:
    async with rig() as r:
        await r.notifier.notify("超时" * 2000)
        await r.notifier.drain()
        content = r.msgs.custom[0]["content"]
        assert len(content.encode("utf-8")) <= 2000 and content.endswith("…")


def test_helpers() -> None:
    assert clip_bytes("汉字" * 10, 10) == "汉字…" and clip_bytes("abc", 10) == "abc"
    ten = "一二三四五六七八九十"
    assert template_value("thing3", f"{ten}\n{ten}一") == f"{ten} 一二三四五六七八…"      # 20 characters, one line
    assert template_value("phrase2", "即将超时提醒") == "即将超时…"
    assert template_value("time4", "2026年11月25日 10:00") == "2026年11月25日 10:00"
    settings = ConsoleSettings(admins=ADMINS)
    assert settings.push_alerts and settings.alert_template_fields == {"thing1": "{message}", "time2": "{time}"}
    with pytest.raises(ValueError):
        ConsoleSettings.model_validate({"admins": [], "admin": ["typo"]})


async def test_no_admins_means_no_calls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with rig() as r:
        r.notifier = WechatAdminNotifier(r.notifier.client, [], "tpl-alert")
        await r.notifier.notify(ALERT)
        await r.notifier.drain()
        assert received(r.server, "message/custom/send") == []  # type: ignore[arg-type]
