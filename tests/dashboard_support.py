"""A hub with realistic dashboard data (three units, five channel kinds, three weeks of deliveries) and
the HTTP helpers the dashboard tests share: log in, read the CSRF token, GET and POST."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from core.clock import FakeClock
from core.models import Item, SourceHealth
from syndicator.app import Hub
from syndicator.config import DashboardSettings, Settings
from syndicator.dashboard import setup_dashboard
from syndicator.dashboard.auth import Auth
from syndicator.dashboard.views import AUTH
from syndicator.passwords import hash_password

PASSWORD = "correct horse battery staple"
SECRET = "SECRET-WB-7f3Kq9ZzT2"                        # a Weibo token: must never reach a page
HOSTILE = '<script>alert("x")</script>国务院办公厅关于测试转义的通知'
FORMULA = '=HYPERLINK("http://evil.example/","点此")国务院关于公式注入的通知'
TITLES = ["国务院办公厅关于进一步优化政务服务提升行政效能的意见",
          "国务院关于印发《2026年国务院立法工作计划》的通知",
          "国务院办公厅关于做好2027年元旦春节期间有关工作的通知",
          "湖北省人民政府关于加快建设全国构建新发展格局先行区的实施意见",
          "国务院办公厅转发国家发展改革委关于促进民间投资若干措施的通知",
          "国务院关于加强数字政府建设的指导意见",
          "湖北省人民政府办公厅关于印发湖北省优化营商环境三年行动方案的通知",
          "国务院办公厅关于全面实行行政许可事项清单管理的通知"]


def dashboard_settings(tmp_path: Path) -> Settings:
    def static(unit: str) -> dict[str, Any]:
        return {"id": f"{unit}-site", "kind": "static", "options": {
            "directory": str(tmp_path / "site" / unit), "public_url": f"https://www.example.gov.cn/{unit}/zzbz/"}}

    def weibo(unit: str, token: str) -> dict[str, Any]:
        return {"id": f"{unit}-weibo", "kind": "weibo", "base_url": "http://127.0.0.1:9",
                "credentials": {"access_token": token},
                "options": {"safe_domain": "example.gov.cn", "rip": "203.0.113.10"}}

    return Settings.model_validate({
        "base_dir": tmp_path, "hub": {"instance_id": "dash-hub", "data_dir": str(tmp_path / "var")},
        "storage": {"url": f"sqlite:///{tmp_path / 'hub.db'}"}, "web": {"port": 0},
        "sources": [
            {"id": "gwy", "name": "国务院信息", "kind": "rss", "url": "https://www.gov.cn/rss/gwy.xml",
             "authority": "国务院办公厅", "origin": "中国政府网"},
            {"id": "hubei", "name": "湖北省政府文件", "kind": "rss", "url": "https://www.hubei.gov.cn/zfwj/rss.xml?key=k",
             "fetch": "browser", "live_check": "needed", "authority": "湖北省人民政府办公厅"},
        ],
        "units": [
            {"id": "ezfgw", "name": "鄂州市发展和改革委员会", "accounts": [
                static("ezfgw"), weibo("ezfgw", SECRET),
                {"id": "ezfgw-wechat", "kind": "wechat", "base_url": "http://127.0.0.1:9",
                 "credentials": {"appid": "wx-appid-DEMO1", "appsecret": "WX-APPSECRET-QQ88", "token": "wxtok-ABC123"}},
                {"id": "ezfgw-app", "kind": "push", "base_url": "http://127.0.0.1:9",
                 "credentials": {"app_key": "jpush-key-Z1", "master_secret": "JPUSH-MASTER-77x"}}]},
            {"id": "ezjyj", "name": "鄂州市教育局",
             "accounts": [static("ezjyj"), weibo("ezjyj", "wb-token-EZJYJ-5555")]},
            {"id": "ezczj", "name": "鄂州市财政局",
             "accounts": [static("ezczj"), weibo("ezczj", "wb-token-EZCZJ-6666")]},
        ],
    })


async def seed(hub: Hub, clock: FakeClock) -> dict[str, int]:
    """Items over the past three weeks: on time, late by various hours, failed, retrying, a held account,
    overdue and due-soon work, a hostile title, two source health rows and some alerts."""
    store, source, start = hub.store, hub.settings.sources[0], clock.now()
    out: dict[str, int] = {}
    titles = [(t, 20 - 2 * i) for i, t in enumerate(TITLES)] + [(HOSTILE, 3), (FORMULA, 2)]
    titles += [("国务院办公厅关于做好今冬明春安全生产工作的通知", 1.1), ("国务院关于今日新发布事项的通知", 0.1)]
    late_hours = iter([0.5, 2, 3, 6, 10, 20, 30, 50, 80, 1.5, 5, 26, 0.8, 3.5, 7, 12])
    for n, (title, days_ago) in enumerate(titles):
        clock.set(start - timedelta(days=days_ago))
        item = Item(source_id="gwy", guid=f"g{n}", url=f"https://www.gov.cn/zhengce/content/2026/{n}.htm",
                    title=title, detected_at=clock.now(), published_at=clock.now(), origin="中国政府网",
                    canonical_url=f"https://www.gov.cn/zhengce/content/2026/{n}.htm", content_hash=f"h{n}")
        planned, deadline, kind = hub.intake.plan(source, item)
        result = await store.ingest(item, deadline.anchor, kind, planned, clock.now())
        for d in await store.deliveries(item_id=result.item_id):
            assert d.id is not None
            if days_ago < 2.5:
                continue                                   # still open: overdue or due soon
            if d.account_id == "ezczj-weibo":
                continue                                   # held below
            if d.account_id == "ezjyj-weibo" or (d.account_id == "ezfgw-wechat" and n % 2):
                when = d.deadline_at + timedelta(hours=next(late_hours, 4))
            else:
                when = d.deadline_at - timedelta(hours=6 + n)
            if when <= start:
                await store.mark_delivered(d.id, min(when, start), f"x{d.id}", f"https://example.gov.cn/{d.id}")
    clock.set(start)
    open_rows = await store.deliveries(states=["pending"])
    failed = next(d for d in open_rows if d.account_id == "ezfgw-weibo")
    await store.mark_failed(failed.id, start, f"微博接口返回 10017：链接不在安全域名内（token={SECRET}）")
    retrying = next(d for d in open_rows if d.account_id == "ezfgw-wechat")
    await store.mark_retry(retrying.id, start, "微信接口超时（send_timeout 60 秒）", start + timedelta(minutes=5))
    out["failed"], out["retrying"] = failed.id or 0, retrying.id or 0
    await store.set_account_state("ezczj-weibo", "needs_reauth", "微博授权已过期（21327），请重新授权", start)
    await store.hold_account("ezczj-weibo", start, "微博授权已过期（21327），请重新授权")
    await store.save_source_health(SourceHealth("gwy", next_check_at=start + timedelta(minutes=5),
                                                last_success_at=start - timedelta(minutes=2), items_seen=len(titles)))
    await store.save_source_health(SourceHealth(
        "hubei", next_check_at=start + timedelta(minutes=30), consecutive_errors=7,
        last_error="HTTP 412：需要浏览器（JS 校验）", last_error_at=start, last_success_at=start - timedelta(hours=9),
        failing_since=start - timedelta(hours=8)))
    await hub.monitor.scan()
    await hub.alert("ezczj-weibo", "鄂州市财政局 微博授权已过期，相关稿件已暂存，请重新授权")
    out["hostile_item"] = next(d.item_id for d in await store.deliveries() if d.item_id == 9)
    return out


@dataclass
class Dash:
    base: str
    hub: Hub
    auth: Auth
    ids: dict[str, int]
    app: Any = None


@contextlib.asynccontextmanager
async def dashboard(tmp_path: Path, clock: FakeClock, serve: Any, users: dict[str, Any] | None = None,
                    **options: Any) -> AsyncIterator[Dash]:
    """A seeded hub with the dashboard served (routes added before the app starts); ``users`` as in
    ``[dashboard.users]`` (default: "operator", an administrator, with ``PASSWORD``)."""
    async with Hub(dashboard_settings(tmp_path), clock=clock) as hub:
        ids = await seed(hub, clock)
        app = hub.web_app()
        users = users or {"operator": hash_password(PASSWORD, iterations=2000)}
        setup_dashboard(app, DashboardSettings(users=users, **options))
        yield Dash(await serve(app), hub, app[AUTH], ids, app)


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def login(http: aiohttp.ClientSession, base: str, user: str = "operator", password: str = PASSWORD,
                next_: str = "/") -> aiohttp.ClientResponse:
    async with http.get(f"{base}/login") as resp:
        token = csrf_of(await resp.text())
    async with http.post(f"{base}/login", data={"username": user, "password": password, "csrf": token,
                                                "next": next_}, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def post(http: aiohttp.ClientSession, url: str, data: dict[str, Any]) -> tuple[int, str]:
    """POST, following the redirect (so the flash message is in the returned page)."""
    async with http.post(url, data=data) as resp:
        return resp.status, await resp.text()


async def status_with_cookie(url: str, session_cookie: str) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh, fresh.get(
            url, headers={"Cookie": f"syn_session={session_cookie}"}, allow_redirects=False) as resp:
        return resp.status


async def page_csrf(http: aiohttp.ClientSession, base: str) -> str:
    return csrf_of((await get(http, f"{base}/deliveries"))[1])
