"""No Weibo post in the demo links to a page that does not exist (issue 14): the demo config runs against the
sandbox with its faults; every link the Weibo look-alike received is then followed against the static export
directory served over HTTP, and each must answer 200."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aiohttp import web

from core.models import DeliveryState
from sandbox import weibo as weibo_box
from sandbox.server import DEFAULT_PORTS, demo_options, start_sandbox
from syndicator.app import Hub
from syndicator.config import load_settings
from syndicator.demo import demo_faults, publish_next
from tests.hub_support import drain
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
PUBLIC = "https://www.example.gov.cn/"          # where the demo's static exports say they are served
_URL = re.compile(r"https?://\S+")


def demo_config(tmp_path: Path, urls: dict[str, str]) -> Path:
    text = (ROOT / "config" / "demo.toml").read_text("utf-8")
    for service, port in DEFAULT_PORTS.items():
        text = text.replace(f"http://127.0.0.1:{port}", urls[service])
    text = text.replace("../var/demo", str(tmp_path / "var")).replace("port = 8700", "port = 0")
    (tmp_path / "demo.toml").write_text(text, "utf-8")
    shutil.copy(ROOT / "config" / "demo.secrets.toml", tmp_path / "demo.secrets.toml")
    (tmp_path / "calendar").symlink_to(ROOT / "config" / "calendar")
    return tmp_path / "demo.toml"


async def test_every_weibo_link_of_the_demo_leads_to_a_served_page(tmp_path, clock, serve, session) -> None:
    box = await start_sandbox(ports=dict.fromkeys(DEFAULT_PORTS, 0), faults=demo_faults(), options=demo_options())
    try:
        settings = load_settings(demo_config(tmp_path, {s: box.url(s) for s in DEFAULT_PORTS}))
        for n in range(3):
            publish_next(box, n)
        async with Hub(settings, clock=clock) as hub:
            for source in settings.sources:
                await hub.watcher.poll(source)
            for _ in range(40):                       # retries, lost replies and the wait for the page
                await drain(hub)
                open_weibo = [d for d in await hub.store.deliveries() if d.channel_kind == "weibo"
                              and d.state not in (DeliveryState.DELIVERED, DeliveryState.HELD)]
                if not open_weibo:
                    break
                clock.advance(seconds=130)
            assert not open_weibo, [(d.account_id, d.state, d.last_error) for d in open_weibo]
        posts = box.apps["weibo"][weibo_box.STATE].posts
        links = [link for post in posts for link in _URL.findall(post["text"])]
        assert len(posts) == 9 and len(links) == len(posts)     # 3 items x the 3 units whose token is valid
        site = web.Application()
        site.router.add_static("/", tmp_path / "var" / "site")
        served = await serve(site)
        for link in links:
            assert link.startswith(PUBLIC), link
            async with session.get(served + "/" + link.removeprefix(PUBLIC)) as resp:
                assert resp.status == 200, link
    finally:
        await box.close()
