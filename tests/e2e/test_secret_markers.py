"""No secret in any output at DEBUG: the hub runs against the look-alikes with marker secrets (credentials,
an upstream behind user:password, a token query and an Authorization header, the WeChat account in safe
mode, a revoked Weibo token, expiring WeChat tokens) and logging at DEBUG; then every output is scanned —
the log, the delay log, the JSON API, metrics, every dashboard page, and the command line."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.clock import FakeClock
from sandbox.common import Faults
from sandbox.server import DEMO_SECRETS, start_sandbox
from sandbox.wechat import STATE as WECHAT
from syndicator.app import Hub
from syndicator.config import load_settings
from syndicator.logs import guarded
from syndicator.operations import Operations
from syndicator.passwords import hash_password
from syndicator.web import start_web
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
MARKERS = {
    "WEIBO_TOKEN": "2.00MARKERweiboTok3n", "WEIBO_REVOKED": "2.00MARKERrevokedTok", "WX_APPID": "wxMARKERappid0001",
    "WX_SECRET": "MARKER-wx-appsecret-55", "WX_TOKEN": "MARKER-wx-cbtoken-88",
    "WX_AES_KEY": base64.b64encode(b"MARKER-aes-key-0123456789abcdefg").decode().rstrip("="),
    "JPUSH_KEY": "MARKERjpushappkey01", "JPUSH_MASTER": "MARKER-jpush-master-99", "CMS_SECRET": "MARKER-cms-secret-11",
    "HOOK_SECRET": DEMO_SECRETS["webhook"], "FEED_PW": "MARKER-feed-pw-33", "FEED_TOKEN": "MARKER-feed-token-44",
    "FEED_BEARER": "MARKER-feed-bearer-66",
}
PASSWORD = "marker dashboard password"
WEIBO_OPTIONS = 'safe_domain = "example.gov.cn", rip = "203.0.113.10", link_template = "https://www.example.gov.cn/z/{item_id}"'
WECHAT_CREDENTIALS = ('appid = "${WX_APPID}", appsecret = "${WX_SECRET}", token = "${WX_TOKEN}", '
                      'encoding_aes_key = "${WX_AES_KEY}"')


def config_text(box_urls: dict[str, str]) -> str:
    up = box_urls["upstream"].replace("http://", "")
    weibo = "".join(f'''  [[units.accounts]]
  id = "{account}"
  kind = "weibo"
  base_url = "{box_urls["weibo"]}"
  credentials = {{ access_token = "${{{ref}}}" }}
  options = {{ {WEIBO_OPTIONS} }}
''' for account, ref in (("ezfgw-weibo", "WEIBO_TOKEN"), ("ezfgw-weibo-old", "WEIBO_REVOKED")))
    return f'''
[hub]
instance_id = "marker-hub"
data_dir = "var"
secrets_file = "secrets.toml"
retry_base_seconds = 1
retry_cap_seconds = 2
confirm_interval_seconds = 1
send_timeout_seconds = 10
[storage]
url = "sqlite:///hub.db"
[web]
port = 0
[dashboard.users]
operator = "{hash_password(PASSWORD, iterations=1000)}"
[[sources]]
id = "gwy"
name = "国务院信息"
kind = "rss"
url = "http://{up}/rss/gwy.xml?token=${{FEED_TOKEN}}"
headers = {{ "X-Api-Key" = "${{FEED_BEARER}}" }}
interval = 5
[[sources]]
id = "down"
name = "不可达的上游"
kind = "rss"
url = "http://reader:${{FEED_PW}}@127.0.0.1:9/rss.xml?access_token=${{FEED_TOKEN}}"
[[units]]
id = "ezfgw"
name = "鄂州市发展和改革委员会"
{weibo}  [[units.accounts]]
  id = "ezfgw-wechat"
  kind = "wechat"
  base_url = "{box_urls["wechat"]}"
  credentials = {{ {WECHAT_CREDENTIALS} }}
  [[units.accounts]]
  id = "ezfgw-app"
  kind = "push"
  base_url = "{box_urls["jpush"]}"
  credentials = {{ app_key = "${{JPUSH_KEY}}", master_secret = "${{JPUSH_MASTER}}" }}
  [[units.accounts]]
  id = "ezfgw-cms"
  kind = "cms"
  base_url = "{box_urls["cms"]}"
  credentials = {{ secret = "${{CMS_SECRET}}" }}
  options = {{ column = "zzbz" }}
  [[units.accounts]]
  id = "ezfgw-hook"
  kind = "webhook"
  credentials = {{ secret = "${{HOOK_SECRET}}" }}
  options = {{ url = "{box_urls["webhook"]}/hooks/ezfgw" }}
'''


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The root logger at DEBUG with a handler installed the way main.py installs its own."""
    stream = io.StringIO()
    handler = guarded(logging.StreamHandler(stream))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def leaked(text: str, markers: list[str]) -> list[str]:
    return [m for m in markers if m in text]


async def test_no_marker_secret_in_any_output_at_debug(tmp_path: Path, debug_log: io.StringIO) -> None:
    clock = FakeClock(datetime.now(UTC))              # starts at wall time: the look-alikes sign with it
    options: dict[str, dict[str, Any]] = {
        "weibo": {"tokens": {MARKERS["WEIBO_TOKEN"]: "example.gov.cn"}},
        "wechat": {"appid": MARKERS["WX_APPID"], "secret": MARKERS["WX_SECRET"], "callback_url": None,
                   "callback_token": MARKERS["WX_TOKEN"], "callback_aes_key": MARKERS["WX_AES_KEY"],
                   "publish_delay_s": 0.05, "now": lambda: clock.now().timestamp()},
        "jpush": {"apps": {MARKERS["JPUSH_KEY"]: MARKERS["JPUSH_MASTER"]}},
        "cms": {"secret": MARKERS["CMS_SECRET"], "public_url": "https://www.example.gov.cn"},
    }
    box = await start_sandbox(ports=dict.fromkeys(("upstream", "webhook", "weibo", "wechat", "jpush", "cms"), 0),
                              options=options, faults={"wechat": Faults(token_expiry_after=3, seed=1)})
    outputs: dict[str, str] = {}
    try:
        (tmp_path / "syndicator.toml").write_text(config_text({s: box.url(s) for s in box.ports}), "utf-8")
        (tmp_path / "secrets.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in MARKERS.items()), "utf-8")
        settings = load_settings(tmp_path / "syndicator.toml")
        for n in range(3):
            box.upstream.publish(f"国务院关于标记密钥测试的通知（第{n + 1}号）")
        jar = aiohttp.CookieJar(unsafe=True)
        async with Hub(settings, clock=clock) as hub, aiohttp.ClientSession(cookie_jar=jar) as http:
            runner = await start_web(hub.web_app(), hub.settings.web)
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            box.apps["wechat"][WECHAT].callback_url = f"{base}/wechat/callback/ezfgw-wechat"
            try:
                for source in settings.sources:
                    await hub.watcher.poll(source)
                for _ in range(40):                     # sends, retries, WeChat publish events and confirms
                    await hub.dispatcher.dispatch_once()
                    await hub.dispatcher.wait_idle()
                    counts = await hub.store.state_counts()
                    if not counts.get("pending") and not counts.get("confirming") and not counts.get("sending"):
                        break
                    await asyncio.sleep(0.1)
                    clock.advance(3)
                (victim, *_rest) = await hub.store.deliveries(states=["held", "retrying", "failed"])
                reason = f"上游需认证 http://reader:{MARKERS['FEED_PW']}@x.example/?token={MARKERS['FEED_TOKEN']}"
                ops = Operations(settings, hub.store, hub.clock, hub.dispatcher)
                assert (await ops.skip(victim.id, reason, "测试")).ok   # type: ignore[arg-type]
                assert (await ops.pause("ezfgw-cms", reason, "测试")).ok
                clock.advance(6 * 86400)                  # past every deadline: overdue records, the skip on record
                await hub.monitor.scan()
                for path in ("/api/status", "/api/deliveries?limit=5000", "/metrics", "/api/openapi.json"):
                    async with http.get(base + path) as resp:
                        outputs[path] = await resp.text()
                async with http.get(f"{base}/login") as resp:
                    token = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
                async with http.post(f"{base}/login", data={"username": "operator", "password": PASSWORD,
                                                            "csrf": token}, allow_redirects=False) as resp:
                    assert resp.status == 303
                pages = [r.resource.canonical for r in runner.app.router.routes()  # type: ignore[union-attr]
                         if r.method == "GET" and r.resource is not None and "{" not in r.resource.canonical]
                month = hub.clock.now().strftime("%Y-%m")
                for path in pages:
                    if path == "/live/events":         # a stream that never ends: its first event is read
                        async with http.get(base + path) as resp:
                            assert resp.status == 200
                            outputs[path] = (await resp.content.readuntil(b"\n\n")).decode("utf-8")
                        continue
                    query = f"?month={month}" if path.startswith("/report") else ""
                    if path == "/evidence.zip":
                        query = f"?month={month}&unit={hub.settings.units[0].id}"
                    async with http.get(base + path + query) as resp:
                        assert resp.status == 200, path
                        if path.endswith(".zip"):
                            with zipfile.ZipFile(io.BytesIO(await resp.read())) as archive:
                                outputs[path] = "\n".join(archive.read(n).decode("utf-8")
                                                          for n in archive.namelist())
                        else:
                            outputs[path] = await resp.text()
            finally:
                await runner.cleanup()
        assert {"/", "/deliveries", "/delays", "/delays.csv", "/sources", "/report"} <= set(outputs)
        issued = [t for t in box.apps["wechat"][WECHAT].tokens]    # live access tokens the hub held
        assert issued
    finally:
        await box.close()
    env = {**os.environ, **MARKERS}
    for command in (["status"], ["sources", "list"], ["delays", "--format", "csv"], ["delays"],
                    ["report", "--month", "2026-12"], ["check-config"]):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "--log-level", "DEBUG", *command, "--config", str(tmp_path / "syndicator.toml"),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        outputs["cli " + " ".join(command)] = out.decode("utf-8", "replace")
    outputs["log"] = debug_log.getvalue()
    outputs["delay log"] = "".join(p.read_text("utf-8") for p in (tmp_path / "var").glob("delays.jsonl*"))
    assert "skipped" in outputs["delay log"] and "ezfgw" in outputs["cli delays"]
    assert "DEBUG" in outputs["log"]
    markers = [*MARKERS.values(), *issued]
    found = {name: leaked(text, markers) for name, text in outputs.items() if leaked(text, markers)}
    assert not found, found
