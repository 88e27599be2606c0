"""The dashboard in a real browser: Playwright drives Debian's Chromium to log in, read the overview,
press 重试 on a failed delivery and see the flash message. No JavaScript is needed by the pages."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FakeClock
from syndicator.delays import local_text
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


async def test_a_delivered_rows_detail_page_shows_its_proof_in_chromium(tmp_path, serve) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    clock = FakeClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    async with dashboard(tmp_path, clock, serve) as d, playwright_api.async_playwright() as pw:
        delivered = (await d.hub.store.deliveries(states=["delivered"]))[0]
        item = await d.hub.store.get_item(delivered.item_id)
        assert item is not None and item.published_at is not None and delivered.delivered_at is not None
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                          java_script_enabled=False)
            await page.goto(f"{d.base}/login?next=/deliveries%3Fstate%3Ddelivered")
            await page.fill("input[name=username]", "operator")
            await page.fill("input[name=password]", PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url("**/deliveries?state=delivered")
            await page.get_by_role("link", name=str(delivered.id), exact=True).click()
            await page.wait_for_url(f"**/delivery/{delivered.id}")
            await playwright_api.expect(page.locator("h1")).to_contain_text(f"投递 #{delivered.id}")
            public = page.get_by_role("link", name=delivered.external_url or "", exact=True)
            await playwright_api.expect(public).to_be_visible()
            assert await public.get_attribute("href") == delivered.external_url
            facts = page.locator("table.facts")
            row = lambda label: facts.locator("tr").filter(  # noqa: E731
                has=page.get_by_role("rowheader", name=label, exact=True))
            await playwright_api.expect(row("本系统确认发布时间")).to_contain_text(local_text(delivered.delivered_at))
            await playwright_api.expect(row("上游发布时间")).to_contain_text(local_text(item.published_at))
            await playwright_api.expect(row("截止时间")).to_contain_text(local_text(delivered.deadline_at))
            await playwright_api.expect(page.get_by_role("link", name=item.url, exact=True)).to_be_visible()
            png = tmp_path / "delivery-detail.png"
            await page.screenshot(path=str(png), full_page=True)
        finally:
            await browser.close()
    assert png.stat().st_size > 10_000
