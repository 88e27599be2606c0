"""Weibo OAuth2 re-authorisation end to end against the look-alike (issue 14): 重新授权 → authorize page → consent →
callback on the hub → access_token → the new token (stored, never printed) is used by the next delivery; an
expiring token raises its alert in advance; a token past its lifetime is refused by the look-alike (21327).
The browser test drives Debian's Chromium through the same flow."""

from __future__ import annotations

import contextlib
import html
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from core.models import DeliveryState
from sandbox import weibo as weibo_box
from sandbox.weibo_oauth import OAUTH, OAuthApp
from syndicator.app import Hub
from syndicator.config import DashboardSettings, Settings
from syndicator.dashboard import setup_dashboard
from syndicator.passwords import hash_password
from tests.dashboard_support import PASSWORD, csrf_of, login
from tests.fakes import make_item
from tests.hub_support import drain

APP_KEY, APP_SECRET, OLD_TOKEN = "3107116953", "weibo-app-secret-Q7", "2.00old-token-of-fgw"
CHROMIUM = os.environ.get("SYNDICATOR_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Rig:
    hub: Hub
    base: str                       # the hub (dashboard) URL
    weibo: Any                      # the look-alike application
    weibo_url: str


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, clock: Any, serve: Any, *, lifetime_s: float | None = None) -> AsyncIterator[Rig]:
    weibo = weibo_box.build_app(tokens={OLD_TOKEN: "example.gov.cn"}, token_lifetime_s=lifetime_s)
    weibo_url = await serve(weibo)
    settings = Settings.model_validate({
        "base_dir": tmp_path, "hub": {"instance_id": "reauth-hub", "data_dir": str(tmp_path / "var"),
                                      "retry_base_seconds": 10},
        "storage": {"url": f"sqlite:///{tmp_path / 'hub.db'}"}, "web": {"port": 0},
        "units": [{"id": "ezfgw", "name": "鄂州市发展和改革委员会", "accounts": [
            {"id": "ezfgw-weibo", "kind": "weibo", "base_url": weibo_url, "concurrency": 1,
             "credentials": {"app_secret": APP_SECRET, "access_token": OLD_TOKEN},
             "options": {"app_key": APP_KEY, "safe_domain": "example.gov.cn", "rip": "203.0.113.10",
                         "attach_image": False, "link_template": "https://www.example.gov.cn/zzbz/{item_id}.html"}}]}],
    })
    async with Hub(settings, clock=clock) as hub:
        app = hub.web_app()
        setup_dashboard(app, DashboardSettings(users={"operator": hash_password(PASSWORD, iterations=2000)}))
        base = await serve(app)
        # the app's 授权回调页 registered on the platform: the hub's callback route
        weibo[OAUTH].apps[APP_KEY] = OAuthApp(APP_SECRET, "example.gov.cn", f"{base}/weibo/callback/")
        yield Rig(hub, base, weibo, weibo_url)


async def hold_for_reauth(r: Rig) -> None:
    """The old token is withdrawn on the platform: the next delivery is held for re-authorisation."""
    r.weibo[weibo_box.STATE].revoked.add(OLD_TOKEN)
    await enqueue(r, 1)
    d = (await r.hub.store.deliveries())[0]
    assert d.state is DeliveryState.HELD
    assert (await r.hub.store.account_states())["ezfgw-weibo"][0] == "needs_reauth"


async def enqueue(r: Rig, n: int) -> None:
    from syndicator.store import PlannedDelivery

    now = r.hub.clock.now()
    planned = [PlannedDelivery("ezfgw", "ezfgw-weibo", "weibo", now + timedelta(days=1))]
    await r.hub.store.ingest(make_item(n), now, "detected", planned, now)
    await drain(r.hub)


def new_token_used(r: Rig) -> str:
    """The token the look-alike issued by OAuth and saw posts with (never read from the hub)."""
    issued = [t for t in r.weibo[weibo_box.STATE].tokens if t != OLD_TOKEN]
    assert len(issued) == 1
    assert len(r.weibo[weibo_box.STATE].sent[issued[0]]) >= 1
    return issued[0]


async def test_reauthorisation_over_http_releases_the_account_and_the_next_post_uses_the_new_token(
        tmp_path, clock, serve) -> None:
    async with rig(tmp_path, clock, serve) as r, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await hold_for_reauth(r)
        await login(http, r.base)
        async with http.get(f"{r.base}/deliveries") as resp:
            page = await resp.text()
        assert "重新授权" in page and OLD_TOKEN not in page
        form = re.search(r'<form class="inline" method="post" action="/accounts/weibo/ezfgw-weibo/authorize">', page)
        assert form
        async with http.post(f"{r.base}/accounts/weibo/ezfgw-weibo/authorize",
                             data={"csrf": csrf_of(page), "next": "/deliveries"}) as resp:
            assert resp.status == 200
            location = html.unescape(re.search(r'<a href="([^"]+)">前往微博授权', await resp.text()).group(1))
        assert location.startswith(f"{r.weibo_url}/oauth2/authorize?")
        query = parse_qs(urlsplit(location).query)
        assert query["client_id"] == [APP_KEY] and query["redirect_uri"] == [f"{r.base}/weibo/callback/ezfgw-weibo"]
        async with http.get(location) as resp:
            assert "授权" in await resp.text()
        consent = {k: v[0] for k, v in query.items()}
        # the consent is given in another browser session: the callback must not need the dashboard cookie
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh:
            async with fresh.post(f"{r.weibo_url}/oauth2/authorize", data=consent, allow_redirects=False) as resp:
                callback = resp.headers["Location"]
            async with fresh.get(callback) as resp:
                done = await resp.text()
                assert resp.status == 200, done
            assert "已重新授权" in done and "重新排队" in done
            async with fresh.get(callback) as resp:                    # the state is single-use
                assert resp.status == 400
        await drain(r.hub)
        d = (await r.hub.store.deliveries())[0]
        assert d.state is DeliveryState.DELIVERED
        assert (await r.hub.store.account_states())["ezfgw-weibo"][0] == "active"
        token = new_token_used(r)
        await enqueue(r, 2)                                        # the next delivery: new token too
        assert len(r.weibo[weibo_box.STATE].sent[token]) == 2
        alerts = " ".join(a["message"] for a in await r.hub.store.recent_alerts(50))
        assert "重新授权微博账号 ezfgw-weibo" in alerts and token not in alerts
        async with http.get(f"{r.base}/deliveries") as resp:
            page = await resp.text()
        assert "授权到期" in page and token not in page


async def test_forged_state_anonymous_start_and_missing_app_key_are_refused(tmp_path, clock, serve) -> None:
    async with rig(tmp_path, clock, serve) as r:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{r.base}/weibo/callback/ezfgw-weibo", params={"code": "x", "state": "f"}) as resp:
                assert resp.status == 400 and "无效或已过期" in await resp.text()
            async with http.post(f"{r.base}/accounts/weibo/ezfgw-weibo/authorize", allow_redirects=False) as resp:
                assert resp.status == 403                              # not logged in
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            r.hub.dispatcher.bindings["ezfgw-weibo"].channel.account.options.pop("app_key")
            await login(http, r.base)
            async with http.get(f"{r.base}/deliveries") as resp:
                token = csrf_of(await resp.text())
            async with http.post(f"{r.base}/accounts/weibo/ezfgw-weibo/authorize", data={"csrf": token}) as resp:
                assert resp.status == 400 and "app_key" in await resp.text()


async def test_expiring_token_alerts_in_advance_and_expired_token_is_refused(tmp_path, clock, serve) -> None:
    async with rig(tmp_path, clock, serve, lifetime_s=5 * 86_400) as r:
        assert await r.hub.check_weibo_expiry() == 1                     # 5 days left < reauth_alert_days (7)
        (alert,) = [a["message"] for a in await r.hub.store.recent_alerts(10)]
        assert "ezfgw-weibo" in alert and "到期" in alert and "重新授权" in alert
        assert await r.hub.check_weibo_expiry() == 0                     # once a day
        clock.advance(days=1)
        assert await r.hub.check_weibo_expiry() == 1
        # the platform's clock runs out: the look-alike refuses the token by time, the hub holds the account
        r.weibo[OAUTH].meta[OLD_TOKEN]["created"] -= 6 * 86_400
        await enqueue(r, 1)
        d = (await r.hub.store.deliveries())[0]
        assert d.state is DeliveryState.HELD and "21327" in (d.last_error or "")


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}")
async def test_reauthorisation_in_chromium(tmp_path, clock, serve) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    from tests.syndicator.test_dashboard_browser import CHROMIUM_ARGS

    async with rig(tmp_path, clock, serve) as r, playwright_api.async_playwright() as pw:
        await hold_for_reauth(r)
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="zh-CN", java_script_enabled=False)
            await page.goto(f"{r.base}/deliveries")
            await page.fill("input[name=username]", "operator")
            await page.fill("input[name=password]", PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{r.base}/deliveries")
            await page.get_by_role("button", name="重新授权").click()
            await page.get_by_role("link", name="前往微博授权 →").click()
            await page.wait_for_url(f"{r.weibo_url}/oauth2/authorize?*")     # Weibo's consent page
            await page.get_by_role("button", name="授权").click()
            await page.wait_for_url(f"{r.base}/weibo/callback/ezfgw-weibo?*")
            await playwright_api.expect(page.locator("body")).to_contain_text("已重新授权")
        finally:
            await browser.close()
        await drain(r.hub)
        assert (await r.hub.store.deliveries())[0].state is DeliveryState.DELIVERED
        new_token_used(r)
