"""The dashboard in a real browser: Playwright drives Debian's Chromium to log in, read the overview,
press 重试 on a failed delivery and see the flash message. No JavaScript is needed by the pages."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicator.clock import FakeClock
from tests.dashboard_support import PASSWORD, dashboard

CHROMIUM = os.environ.get("SYNDICATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}: "
                       "apt-get install chromium, or set SYNDICATOR_CHROMIUM"),
]


async def test_login_overview_and_retry_in_chromium(tmp_path, serve) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    clock = FakeClock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))       # December: the 2027 calendar banner shows
    async with dashboard(tmp_path, clock, serve) as d, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                          java_script_enabled=False)
            await page.goto(f"{d.base}/")
            assert "/login" in page.url
            await page.fill("input[name=username]", "operator")
            await page.fill("input[name=password]", PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{d.base}/")
            await playwright_api.expect(page.locator("h1")).to_have_text("总览")
            await playwright_api.expect(page.get_by_role("alert").first).to_contain_text("2027年节假日安排尚未载入")
            await playwright_api.expect(page.locator("svg[role=img]")).to_be_visible()
            overview_png = tmp_path / "dashboard-overview.png"
            await page.screenshot(path=str(overview_png), full_page=True)

            await page.get_by_role("link", name="投递", exact=True).click()
            form = page.locator("form[action='/actions/retry']").filter(
                has=page.locator(f"input[name=delivery_id][value='{d.ids['failed']}']"))
            await form.get_by_role("button", name="重试").click()
            await page.wait_for_load_state()
            flash = page.get_by_role("status")
            await playwright_api.expect(flash).to_contain_text(f"投递 #{d.ids['failed']} 已重新排队")
            deliveries_png = tmp_path / "dashboard-retry.png"
            await page.screenshot(path=str(deliveries_png), full_page=True)
        finally:
            await browser.close()
        assert (await d.hub.store.get_delivery(d.ids["failed"])).state.value == "pending"
    for png in (overview_png, deliveries_png):
        assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
