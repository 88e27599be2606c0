"""Real-world content through the whole hub: lying charset headers, bytes no charset decodes, garbled titles and
a 1,000,000-character title. Nothing garbled is published, every refusal is a visible source problem, and an
oversized field is capped, flagged and still indexed by the static export after a manifest rebuild."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from channels.website import static
from sandbox.common import RECORDER
from sandbox.server import DEMO_SECRETS
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from syndicator.config import Settings
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units

TITLE = "国务院办公厅关于进一步优化政务服务提升行政效能的通知"
LONG_TITLE = "长" * 1_000_000


def rss(title: str, n: int = 1, *, declaration: str = "utf-8") -> str:
    return (f'<?xml version="1.0" encoding="{declaration}"?><rss version="2.0"><channel><title>t</title><item>'
            f"<title>{title}</title><link>https://www.gov.cn/zhengce/content/2026/content_{n}.htm</link>"
            "<description>各省、自治区、直辖市人民政府：现将有关事项通知如下。</description>"
            "<pubDate>2026-11-25 09:00:00</pubDate></item></channel></rss>")


FEEDS: dict[str, tuple[bytes, str]] = {
    # GBK bytes behind a header that says UTF-8; the XML declaration tells the truth
    "gbk": (rss(TITLE, declaration="gbk").encode("gbk"), "application/rss+xml; charset=utf-8"),
    # bytes neither UTF-8 nor gb18030 (nor the declared gbk) can read
    "undecodable": (rss("国务院\x00", declaration="gbk").encode("gbk").replace(b"\x00", b"\x80\xff\x80"),
                    "application/rss+xml; charset=utf-8"),
    # decodes cleanly, yet the title itself holds U+FFFD (garbled before it reached the feed)
    "garbled": (rss("国务院关于\ufffd\ufffd的通知").encode(), "application/rss+xml; charset=utf-8"),
    "long": (rss(LONG_TITLE).encode(), "application/rss+xml; charset=utf-8"),
}


def upstream() -> web.Application:
    async def feed(request: web.Request) -> web.Response:
        body, content_type = FEEDS[request.match_info["name"]]
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/{name}.xml", feed)
    return app


def posted_titles(receiver: web.Application) -> list[str]:
    return [e["body"]["item"]["title"] for e in receiver[RECORDER].entries if e.get("outcome") == "stored"]


async def rig(serve, tmp_path: Path, name: str) -> tuple[Settings, web.Application]:
    base = await serve(upstream())
    receiver_app = build_webhook(DEMO_SECRETS["webhook"])
    receiver = await serve(receiver_app)
    settings = hub_settings(tmp_path, sources=[rss_source(name, f"{base}/{name}.xml")],
                            units=webhook_and_site_units(1, receiver, tmp_path / "site"))
    return settings, receiver_app


async def test_a_gbk_feed_behind_a_utf8_header_is_read_correctly(serve, tmp_path: Path, clock) -> None:
    settings, receiver = await rig(serve, tmp_path, "gbk")
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 1
        (delivery, *_) = await hub.store.deliveries()
        item = await hub.store.get_item(delivery.item_id)
        await drain(hub)
    assert item is not None and item.title == TITLE and "\ufffd" not in item.summary + item.content
    assert posted_titles(receiver) == [TITLE]
    assert TITLE in (tmp_path / "site" / "u0" / "index.html").read_text("utf-8")


async def test_bytes_no_charset_decodes_are_a_source_problem_and_nothing_is_published(serve, tmp_path: Path,
                                                                                      clock) -> None:
    settings, receiver = await rig(serve, tmp_path, "undecodable")
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 0
        health = await hub.store.source_health("undecodable")
        assert await hub.store.deliveries() == []
        status = (await hub.store.all_source_health())[0]
    assert health.consecutive_errors == 1 and "无法按任何候选字符编码无误解码" in (health.last_error or "")
    assert "utf-8" in (health.last_error or "") and "gb18030" in (health.last_error or "")
    assert status.last_error == health.last_error and not receiver[STORED]
    assert not (tmp_path / "site" / "u0" / "index.html").exists()


async def test_a_title_with_replacement_characters_is_refused_with_a_reason(serve, tmp_path: Path, clock) -> None:
    settings, receiver = await rig(serve, tmp_path, "garbled")
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 0
        health = await hub.store.source_health("garbled")
        alerts = await hub.store.recent_alerts()
        assert await hub.store.deliveries() == []
    assert "U+FFFD" in (health.last_error or "") and "已拒收" in (health.last_error or "")
    assert any("U+FFFD" in a["message"] and a["subject"] == "garbled" for a in alerts)
    assert not receiver[STORED]


async def test_a_million_character_title_is_capped_flagged_and_stays_indexed(serve, tmp_path: Path, clock) -> None:
    settings, receiver = await rig(serve, tmp_path, "long")
    site = tmp_path / "site" / "u0"
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 1
        (delivery, *_) = await hub.store.deliveries()
        item = await hub.store.get_item(delivery.item_id)
        await drain(hub)
        assert item is not None and len(item.title) == settings.limits.title_chars and item.title.endswith("…")
        assert item.truncated == (("title", 1_000_000),)
        (posted,) = posted_titles(receiver)
        assert len(posted) == settings.limits.title_chars
        page = next((site / "articles").glob("*.html"))
        # a manifest rebuild (lost manifest, restarted process) reads every page back for its entry
        (static.work_dir(site) / static.MANIFEST).unlink()
        static._SCANNED.clear()
        channel = hub.dispatcher.bindings["u0-site"].channel
        assert await channel.lookup(page.stem) is not None
    assert page.name in (site / "index.html").read_text("utf-8")
