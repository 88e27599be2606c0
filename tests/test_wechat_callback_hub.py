"""WeChat tells the hub a publication finished (PUBLISHJOBFINISH on the callback URL): the
delivery is resolved without waiting for the next poll of freepublish/get."""

from __future__ import annotations

import asyncio

from sandbox import wechat as wechat_box
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from syndicator.web import start_web
from tests.hub_support import drain, hub_settings, rss_source

CALLBACK_TOKEN = "cb-token-for-test"


async def test_publish_job_finish_event_resolves_the_delivery(serve, tmp_path, clock) -> None:
    state = UpstreamState()
    state.publish("国务院办公厅关于微信回调测试的通知")
    upstream = await serve(build_upstream(state))
    wechat_app = wechat_box.build_app(appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"],
                                      callback_token=CALLBACK_TOKEN, publish_delay_s=0.2)
    wechat = await serve(wechat_app)
    units = [{"id": "u0", "name": "鄂州市政府办", "accounts": [
        {"id": "u0-wechat", "kind": "wechat", "base_url": wechat,
         "credentials": {"appid": DEMO_SECRETS["wechat_appid"], "appsecret": DEMO_SECRETS["wechat_secret"],
                         "token": CALLBACK_TOKEN}}]}]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units,
                            confirm_interval_seconds=3600)
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub)
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
            assert wechat_app[wechat_box.STATE].events_sent
        finally:
            await runner.cleanup()
