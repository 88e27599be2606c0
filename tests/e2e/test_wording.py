"""Words an operator can use: the demo configuration runs against the look-alikes (with their injected
faults, a revoked Weibo token, a source that answers 404 and one that cannot be reached), then EVERY GET
page of the dashboard (enumerated from the router) and every console command's reply are scanned for
what a non-programmer cannot act on: a server file path, raw English error phrases, raw config keys and
"Asia/Shanghai" (北京时间 is said instead)."""

from __future__ import annotations

import functools
import html
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel

from channels.registry import CHANNEL_KINDS, channel_class
from core.clock import FakeClock
from sandbox.server import DEFAULT_PORTS, demo_options, start_sandbox
from syndicator.app import Hub
from syndicator.config import ConsoleSettings, Settings, load_settings
from syndicator.console import Console
from syndicator.demo import demo_faults
from syndicator.operations import Operations
from syndicator.passwords import hash_password
from syndicator.status import status_report
from syndicator.web import start_web
from tests.paths import ROOT_DIR
from tests.syndicator.test_example_config import reachable

ROOT = ROOT_DIR
PASSWORD = "wording scan password"
ADMIN = "oWordingScanAdmin000000001"
PATHS = re.compile(r"(?<![\w.:/])/(?:tmp|work|home|var|etc|usr|root|srv|opt|app)/|\.toml\b|calendar/\d{4}")
ENGLISH = ("Not Found", "Service Unavailable", "Internal Server Error", "Bad Gateway", "Gateway Timeout",
           "Bad Request", "Forbidden", "Unauthorized", "Too Many Requests", "Method Not Allowed", "Traceback",
           "Error:", "Exception", "error:", "warning:", "connect failed", "Timeout", "timed out", "needed",
           " / HTTP", "rss /")


def config_keys() -> set[str]:
    """Every snake_case option name an operator could be shown by mistake (settings and channel options)."""
    models: set[type[BaseModel]] = reachable(Settings)
    for kind in CHANNEL_KINDS:
        models |= reachable(channel_class(kind).Options)
    return {name for m in models for name in m.model_fields if "_" in name}


KEYS = config_keys()
KEY_WORD = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, KEYS), key=len, reverse=True)) + r")(?![\w-])")


def visible(page: str) -> str:
    """What a person reads: text outside tags and scripts, entities decoded (attributes are not shown)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def problems(text: str) -> list[str]:
    found = [f"path {m.group(0)!r}" for m in PATHS.finditer(text)]
    found += [f"English {p!r}" for p in ENGLISH if p in text]
    found += [f"config key {m.group(1)!r}" for m in KEY_WORD.finditer(text)]
    if "Asia/Shanghai" in text:
        found.append("Asia/Shanghai")
    return found


def context(text: str, finding: str) -> str:
    needle = finding.split("'")[1] if "'" in finding else finding
    at = text.find(needle)
    return " ".join(text[max(0, at - 60):at + 60].split())


def demo_config(tmp_path: Path, urls: dict[str, str]) -> Path:
    """config/demo.toml as `main.py demo` uses it, pointed at this run's look-alikes, with two failing
    sources more (404 and unreachable), a cheap password hash and the WeChat console on."""
    text = (ROOT / "config" / "demo.toml").read_text("utf-8")
    for service, port in DEFAULT_PORTS.items():
        text = text.replace(f"http://127.0.0.1:{port}", urls[service])
    text = re.sub(r"(?m)^port = 8700$", "port = 0", text)
    text = re.sub(r'(?m)^demo = "pbkdf2_sha256\$[^"]+"$', f'demo = "{hash_password(PASSWORD, iterations=1000)}"',
                  text)
    extra = f'''
[[sources]]
id = "gone"
name = "已下线的栏目"
kind = "rss"
url = "{urls["upstream"]}/rss/no-such-feed.xml"
interval = 5
live_check = "needed"

[[sources]]
id = "html-down"
name = "无法连接的网页栏目"
kind = "html"
url = "http://127.0.0.1:9/list.html"
interval = 5
html = {{ item = "li" }}
'''
    first_unit = text.index("[[units]]")
    text = text[:first_unit] + extra.lstrip() + "\n" + text[first_unit:]
    cfg = tmp_path / "config"
    cfg.mkdir()
    shutil.copytree(ROOT / "config" / "calendar", cfg / "calendar")
    shutil.copy(ROOT / "config" / "demo.secrets.toml", cfg / "demo.secrets.toml")
    (cfg / "demo.toml").write_text(text, "utf-8")
    return cfg / "demo.toml"


async def test_no_path_english_error_config_key_or_zone_name_reaches_an_operator(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))    # December: next year's calendar is missing
    box = await start_sandbox(ports=dict.fromkeys(DEFAULT_PORTS, 0), faults=demo_faults(),
                              options=demo_options(None))
    outputs: dict[str, str] = {}
    try:
        settings = load_settings(demo_config(tmp_path, {s: box.url(s) for s in box.ports}))
        for n in range(3):
            box.upstream.publish(f"国务院关于用语检查的通知（第{n + 1}号）", feeds={"gwy", "province"})
        jar = aiohttp.CookieJar(unsafe=True)
        async with Hub(settings, clock=clock) as hub, aiohttp.ClientSession(cookie_jar=jar) as http:
            runner = await start_web(hub.web_app(), hub.settings.web)
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                for _round in range(3):
                    for source in settings.sources:
                        await hub.watcher.poll(source)
                    clock.advance(120)
                for _ in range(25):                               # sends, faults, retries
                    await hub.dispatcher.dispatch_once()
                    await hub.dispatcher.wait_idle()
                    clock.advance(40)
                clock.advance(3 * 86400)                          # past deadlines: overdue records and alerts
                await hub.monitor.scan()
                outputs.update(await _pages(http, base, runner.app, hub))
                outputs.update(await _console(hub))
            finally:
                await runner.cleanup()
    finally:
        await box.close()
    assert {"/", "/deliveries", "/sources", "console 状态"} <= set(outputs)
    assert "节假日安排尚未载入" in outputs["/"]                     # the calendar banner was there to check
    found = {name: [(p, context(text, p)) for p in problems(text)] for name, text in outputs.items()}
    found = {name: f for name, f in found.items() if f}
    assert not found, "\n".join(f"{name}: {f}" for name, f in found.items())


async def _pages(http: aiohttp.ClientSession, base: str, app: Any, hub: Hub) -> dict[str, str]:
    out: dict[str, str] = {}
    async with http.get(f"{base}/login") as resp:
        token = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
        out["/login"] = visible(await resp.text())
    async with http.post(f"{base}/login", data={"username": "demo", "password": PASSWORD, "csrf": token},
                         allow_redirects=False) as resp:
        assert resp.status == 303
    month = hub.clock.now().strftime("%Y-%m")
    tried = [d for d in await hub.store.deliveries(limit=5000) if d.attempts and (d.last_error or d.note)]
    some = (tried or await hub.store.deliveries(limit=1))[0].id      # a delivery with platform answers
    paths = {r.resource.canonical for r in app.router.routes()
             if r.method == "GET" and r.resource is not None}
    for path in sorted(paths):
        if path in ("/login", "/live/events", "/static/live.js", "/evidence.zip") or path.startswith("/manual/"):
            # /manual/* are the 信息员's signed pages (tests/test_manual_units.py checks their wording and tokens)
            continue            # a stream of times, a script, and raw platform answers kept as evidence
        weibo = next((a.id for _u, a in hub.settings.accounts() if a.kind == "weibo"), "none")
        url = path.replace("{id}", str(some)).replace("{account_id}", weibo)
        if "{" in url:
            raise AssertionError(f"the scan does not know how to fill {path}: teach it")
        query = f"?month={month}" if path.startswith("/report") else "?state=all" if path == "/deliveries" else ""
        async with http.get(base + url + query, allow_redirects=False) as resp:
            if path.startswith(("/api/", "/metrics", "/healthz", "/livez", "/wechat/")):
                continue        # machine answers (JSON, metrics), not pages
            if not path.startswith("/weibo/callback/"):      # without a valid state: refused, in words
                assert resp.status == 200, path
            text = await resp.text()
        out[path] = text if path.endswith(".csv") else visible(text)
    for path in ("/no-such-page", "/delivery/999999"):
        async with http.get(base + path) as resp:
            out[path] = visible(await resp.text())
    return out


async def _console(hub: Hub) -> dict[str, str]:
    ops = Operations(hub.settings, hub.store, hub.clock, hub.dispatcher, hub.calendar_notices)
    console = Console(ops, functools.partial(status_report, hub.store, hub.settings, hub.calendar, hub.clock,
                                          hub.supervisor), ConsoleSettings(admins=[ADMIN]), hub.clock)
    open_ = await hub.store.deliveries(states=["failed", "retrying", "held", "pending"], limit=2)
    first = open_[0].id if open_ else 1
    account = hub.settings.accounts()[1][1].id
    commands = ["状态", "延误", "待办", "帮助", f"重试 {first}", "重试 999999", f"跳过 {first}", "跳过 999999 已转载",
                f"暂停 {account} 检查", f"恢复 {account}", "暂停 no-such-account", "确认日历 2027", "确认日历 abc",
                "乱码命令", "status", "help"]
    out = {}
    for command in commands:
        out[f"console {command}"] = await console.answer("ezfgw-wechat", ADMIN, command) or ""
    return out
