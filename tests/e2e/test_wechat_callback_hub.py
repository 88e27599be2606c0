"""WeChat tells the hub a publication finished (PUBLISHJOBFINISH on the callback URL): the hub asks the
platform at once (freepublish/get) instead of waiting for the next poll — and a forged event, which the
platform does not confirm, changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.clock import FakeClock
from sandbox import wechat as wechat_box
from sandbox.common import RECORDER
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from syndicator.web import start_web
from tests.hub_support import drain, hub_settings, rss_source
from tests.wechat_support import AES_KEY, wx_signed

CALLBACK_TOKEN = "cb-token-for-test"


async def _hub_with_wechat(serve: Any, tmp_path: Path, clock: FakeClock, *, safe: bool, publish_delay_s: float
                           ) -> tuple[Any, Any]:
    state = UpstreamState()
    state.publish("国务院办公厅关于微信回调测试的通知")
    upstream = await serve(build_upstream(state))
    wechat_app = wechat_box.build_app(appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"],
                                      callback_token=CALLBACK_TOKEN, publish_delay_s=publish_delay_s,
                                      callback_aes_key=AES_KEY if safe else None,
                                      now=lambda: clock.now().timestamp())
    wechat = await serve(wechat_app)
    credentials = {"appid": DEMO_SECRETS["wechat_appid"], "appsecret": DEMO_SECRETS["wechat_secret"],
                   "token": CALLBACK_TOKEN, **({"encoding_aes_key": AES_KEY} if safe else {})}
    units = [{"id": "u0", "name": "鄂州市政府办", "accounts": [
        {"id": "u0-wechat", "kind": "wechat", "base_url": wechat, "credentials": credentials}]}]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units,
                            confirm_interval_seconds=3600)
    return settings, wechat_app


async def test_publish_job_finish_event_has_the_hub_confirm_at_once(serve, tmp_path, clock) -> None:
    settings, wechat_app = await _hub_with_wechat(serve, tmp_path, clock, safe=True, publish_delay_s=0.2)
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub.web_app(), hub.settings.web)
        try:
            port = runner.addresses[0][1]
            wechat_app[wechat_box.STATE].callback_url = f"http://127.0.0.1:{port}/wechat/callback/u0-wechat"
            await hub.watcher.poll(settings.sources[0])
            await drain(hub)
            (pending,) = await hub.store.deliveries()
            assert pending.state.value == "confirming" and pending.external_id
            for _ in range(60):            # the event arrives after publish_delay_s; no clock advance
                await asyncio.sleep(0.05)
                (d,) = await hub.store.deliveries()
                if d.state.value == "delivered":
                    break
            assert d.state.value == "delivered", d
            assert d.external_url and d.external_url.startswith("https://mp.weixin.qq.com/")
            (sent,) = wechat_app[wechat_box.STATE].events_sent
            assert sent["http_status"] == 200 and hub.refusals == {}
            asked = [e for e in wechat_app[RECORDER].entries if e["path"] == "/cgi-bin/freepublish/get"]
            assert asked, "the hub confirmed with the platform, not from the event"
        finally:
            await runner.cleanup()


async def test_forged_publish_event_changes_no_delivery(serve, tmp_path, clock, session) -> None:
    """A correctly signed plain-mode event (a captured, unused callback URL) claiming success with an
    attacker's article URL: the platform still says 'publishing', so nothing changes."""
    settings, wechat_app = await _hub_with_wechat(serve, tmp_path, clock, safe=False, publish_delay_s=3600)
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub.web_app(), hub.settings.web)
        try:
            await hub.watcher.poll(settings.sources[0])
            await drain(hub)
            (before,) = await hub.store.deliveries()
            assert before.state.value == "confirming"
            xml = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_x]]></FromUserName>"
                   f"<CreateTime>{int(clock.now().timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                   "<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
                   f"<publish_id>{before.external_id}</publish_id><publish_status>0</publish_status>"
                   "<article_id><![CDATA[EVIL]]></article_id><article_detail><count>1</count><item><idx>1</idx>"
                   "<article_url><![CDATA[https://evil.example/fake]]></article_url></item></article_detail>"
                   "</PublishEventInfo></xml>")
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/wechat/callback/u0-wechat"
            async with session.post(url, params=wx_signed(CALLBACK_TOKEN, clock.now().timestamp()), data=xml) as r:
                assert r.status == 200 and await r.text() == "success"
            for _ in range(100):           # the hint is scheduled after the answer; wait for the hub's check
                asked = [e for e in wechat_app[RECORDER].entries if e["path"] == "/cgi-bin/freepublish/get"]
                if asked and not hub.dispatcher.claimed:
                    break
                await asyncio.sleep(0.02)
            (after,) = await hub.store.deliveries()
            assert after.state.value == "confirming" and after.external_url is None
            assert after.delivered_at is None and after.external_id == before.external_id
            asked = [e for e in wechat_app[RECORDER].entries if e["path"] == "/cgi-bin/freepublish/get"]
            assert len(asked) == 1          # the hint made the hub ask; the platform's word decided
        finally:
            await runner.cleanup()
