"""Runs every look-alike on its own port (as the real services are separate hosts).

Going live is a change of ``base_url`` and credentials per account; paths, parameters,
signatures and error bodies are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import cms, jpush, wechat, weibo
from sandbox.column import STATE, follow
from sandbox.column import build_app as build_column
from sandbox.common import RECORDER, Faults
from sandbox.govsite import add_govsite_routes
from sandbox.robots import build_robot_app
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import build_app as build_webhook

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"upstream": 8701, "webhook": 8702, "weibo": 8703, "wechat": 8704, "jpush": 8705, "cms": 8706,
                 "robots": 8707, "column": 8708}
DEMO_SECRETS = {
    "webhook": "demo-webhook-secret",
    "weibo_token": "2.00sandboxWeiboToken",
    "weibo_token_ezjyj": "2.00sandboxWeiboTokenEzjyj",    # each unit posts as its own Weibo user: the same item from
    "weibo_token_ezwjw": "2.00sandboxWeiboTokenEzwjw",    # one user twice would be "similar content" (20017)
    "wechat_appid": "wx5andb0x0000demo",
    "wechat_secret": "demo-wechat-appsecret",
    "wechat_aes_key": "c3luZGljYXRvci1kZW1vLXNhZmUtbW9kZS1hZXNrZXk",   # the callback account is in safe mode
    "jpush_app_key": "sandbox-app-key",
    "jpush_master_secret": "sandbox-master-secret",
    "cms_secret": "demo-cms-secret",
    "wecom_informant": "demo-wecom-informant-key",     # the manual unit's 信息员 group robot
    "wecom_leader": "demo-wecom-leader-key",           # its responsible person's
}

PLATFORMS = {"weibo": weibo.build_app, "wechat": wechat.build_app, "jpush": jpush.build_app, "cms": cms.build_app}


def demo_options(callback_url: str | None = None) -> dict[str, dict[str, Any]]:
    """Look-alike settings matching DEMO_SECRETS (config/demo.secrets.toml)."""
    return {
        "weibo": {"tokens": {DEMO_SECRETS[k]: "example.gov.cn" for k in ("weibo_token", "weibo_token_ezjyj",
                                                                         "weibo_token_ezwjw")},
                  "hourly_limit": 30, "reset_in": 15},
        "wechat": {"appid": DEMO_SECRETS["wechat_appid"], "secret": DEMO_SECRETS["wechat_secret"],
                   "callback_url": callback_url, "callback_token": "demo-callback-token", "publish_delay_s": 1.0,
                   "callback_aes_key": DEMO_SECRETS["wechat_aes_key"]},
        "jpush": {"apps": {DEMO_SECRETS["jpush_app_key"]: DEMO_SECRETS["jpush_master_secret"]}},
        "cms": {"secret": DEMO_SECRETS["cms_secret"], "public_url": "https://www.example.gov.cn"},
        "robots": {"wecom_keys": {DEMO_SECRETS["wecom_informant"], DEMO_SECRETS["wecom_leader"]}, "dingtalk": {}},
        # the manual unit's own site; its 信息员 (played by sandbox.column.follow) reprints 20 s after the notice
        "column": {"sites": {"ezsj": {"name": "鄂州市审计局", "charset": "gbk"}}, "follow_delay_s": 20.0},
    }


@dataclass
class Sandbox:
    host: str
    ports: dict[str, int]
    upstream: UpstreamState
    runners: list[web.AppRunner] = field(default_factory=list)
    apps: dict[str, web.Application] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runner in reversed(self.runners):
            await runner.cleanup()


def build_apps(upstream: UpstreamState, faults: dict[str, Faults], options: dict[str, dict[str, Any]]
               ) -> dict[str, web.Application]:
    """One application per service."""
    upstream_app = build_upstream(upstream, faults.get("upstream"))
    add_govsite_routes(upstream_app)
    apps = {
        "upstream": upstream_app,
        "webhook": build_webhook(DEMO_SECRETS["webhook"], faults.get("webhook")),
    }
    for service, build in PLATFORMS.items():
        apps[service] = build(faults.get(service), **options.get(service, {}))
    robots = options.get("robots", {})
    apps["robots"] = build_robot_app(wecom_keys=set(robots.get("wecom_keys", ())), dingtalk=robots.get("dingtalk", {}),
                                     faults=faults.get("robots"))
    apps["column"] = build_column(faults.get("column"), sites=options.get("column", {}).get("sites"))
    return apps


async def start_sandbox(host: str = "127.0.0.1", ports: dict[str, int] | None = None, *,
                        faults: dict[str, Faults] | None = None, options: dict[str, dict[str, Any]] | None = None,
                        upstream: UpstreamState | None = None) -> Sandbox:
    ports = {**DEFAULT_PORTS, **(ports or {})}
    box = Sandbox(host, ports, upstream or UpstreamState())
    options = demo_options() if options is None else options
    box.apps = build_apps(box.upstream, faults or {}, options)
    try:
        for service, app in box.apps.items():
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, ports[service])
            await site.start()
            box.runners.append(runner)
            if ports[service] == 0:   # an ephemeral port was asked for: learn which
                ports[service] = runner.addresses[0][1]
            log.info("sandbox %s listening on %s", service, box.url(service))
        follow_delay = options.get("column", {}).get("follow_delay_s")
        if follow_delay is not None and "column" in box.apps and "robots" in box.apps:
            box.tasks.append(asyncio.create_task(follow(box.apps["column"][STATE], box.apps["robots"][RECORDER],
                                                        box.url("column"), follow_delay)))
    except BaseException:
        await box.close()
        raise
    return box
