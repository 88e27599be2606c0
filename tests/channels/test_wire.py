"""Spliced request bodies are byte-for-byte what json.dumps gives (the signatures are over those bytes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.base import AccountConfig
from channels.signing import verify_signature
from channels.webhook import WebhookChannel
from channels.website.cms import CmsChannel, render_article
from channels.wire import json_object, members
from core.models import Item, UnitRef
from tests.fakes import make_context

ITEM = Item(source_id="gwy", guid="g1", id=3, url="https://www.gov.cn/zhengce/content/202612/content_7000009.htm",
            title="国务院办公厅关于“高效办成一件事”的通知", content='<p>引号 " 反斜杠 \\ 换行\n和 &lt;标签&gt;</p>',
            origin="中国政府网", authority="国务院办公厅", published_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
            detected_at=datetime(2026, 12, 1, 2, 5, tzinfo=UTC), images=("https://www.gov.cn/a.jpg",))


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_json_object_matches_json_dumps() -> None:
    head, shared, tail = {"key": "k\"1"}, {"item": {"t": "中文\u2028", "n": [1, None, True]}}, {"sent_at": 5}
    assert json_object(head, members(shared), tail) == compact({**head, **shared, **tail})
    assert json_object({}, members({}), {"a": 1}) == compact({"a": 1})
    assert json_object() == b"{}"


async def _capture(channel_for: Any, path: str) -> tuple[bytes, dict[str, str], Any]:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["body"], seen["headers"] = await request.read(), dict(request.headers)
        return web.json_response({"id": "x1", "url": "https://example.gov.cn/x1"}, status=201)

    app = web.Application()
    app.router.add_post(path, handler)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        channel = channel_for(str(server.make_url("")), make_context(session))
        await channel.publish(ITEM, UnitRef("u1", "鄂州市发展和改革委员会"), "key-1")
        await channel.publish(ITEM, UnitRef("u2", "鄂州市教育局"), "key-2")     # second unit: shared part reused
    return seen["body"], seen["headers"], channel


async def test_webhook_body_is_the_rendered_payload_and_signed() -> None:
    def make(base: str, ctx: Any) -> WebhookChannel:
        return WebhookChannel(AccountConfig(id="hook", kind="webhook", credentials={"secret": "s3"},
                                            options={"url": base + "/hook"}), ctx)

    body, headers, channel = await _capture(make, "/hook")
    sent = json.loads(body)
    unit = UnitRef("u2", "鄂州市教育局")
    assert body == compact({"key": "key-2", **channel.render(ITEM, unit), "sent_at": sent["sent_at"]})
    assert verify_signature("s3", body, headers["X-Syndicator-Signature"])


async def test_cms_body_is_the_rendered_article_and_signed() -> None:
    def make(base: str, ctx: Any) -> CmsChannel:
        return CmsChannel(AccountConfig(id="web", kind="cms", base_url=base, credentials={"secret": "s4"},
                                        options={"column": "zcwj"}), ctx)

    body, headers, channel = await _capture(make, "/api/reprints")
    sent = json.loads(body)
    assert body == compact({"key": "key-2", **render_article(ITEM, channel.options), "sent_at": sent["sent_at"]})
    assert verify_signature("s4", body, headers["X-Signature"])
