"""Every dashboard page at a phone's width (390 px) and a laptop's (1366 px) in Chromium: the page never
scrolls sideways, every menu entry and the logout button are on screen, and each action button can be
reached. Screenshots are kept under var/screenshots/ (CI artifacts) and show Chinese text (dev.py installs a
CJK font)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FakeClock
from syndicator.dashboard.render import NAV
from tests.dashboard_support import PASSWORD, dashboard
from tests.paths import ROOT_DIR
from tests.syndicator.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = ROOT_DIR / "var" / "screenshots"
PAGES = [href for href, _ in NAV]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}"),
]

# what a person would see off to the side: anything whose box reaches past the viewport's right edge
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const page = document.documentElement.scrollWidth;
  const off = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && getComputedStyle(e).visibility !== 'hidden';
  }).slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 30));
  return {width, page, off};
}"""


@pytest.mark.parametrize("width", [390, 1366])
async def test_every_page_fits_the_screen_and_keeps_its_actions_reachable(tmp_path, serve, width: int) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    clock = FakeClock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with dashboard(tmp_path, clock, serve) as d, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": 844}, locale="zh-CN",
                                          java_script_enabled=False)
            await page.goto(f"{d.base}/login")
            await page.fill("input[name=username]", "operator")
            await page.fill("input[name=password]", PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{d.base}/")
            for href in PAGES:
                await page.goto(f"{d.base}{href}")
                layout = await page.evaluate(_OVERFLOW)
                assert layout["page"] <= layout["width"], (href, width, layout)
                assert not layout["off"], (href, width, layout["off"])
                for nav_href, label in NAV:
                    box = await page.locator(f"header nav a[href='{nav_href}']").bounding_box()
                    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (href, label, box)
                    assert box["width"] >= 2 * 14, (href, label, "menu entry squeezed", box)
                logout = await page.get_by_role("button", name="退出").bounding_box()
                assert logout and logout["x"] + logout["width"] <= width
                buttons = page.locator("main form button")
                for i in range(await buttons.count()):
                    button = buttons.nth(i)
                    await button.scroll_into_view_if_needed()
                    box = await button.bounding_box()
                    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (href, i, box)
                name = href.strip("/") or "overview"
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        finally:
            await browser.close()
    for href in PAGES:
        shot = ARTIFACTS / f"{(href.strip('/') or 'overview')}-{width}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
