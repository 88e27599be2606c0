"""Small in-memory stand-ins shared by the tests."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from channels.base import ChannelContext
from core.clock import Clock, FakeClock
from core.models import Item
from feeds.identity import canonical_url

BODY = ("<p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>"
        "<p>《关于加快构建废弃物循环利用体系的意见》已经国务院同意，现印发给你们，请认真贯彻落实。</p>")


def make_item(n: int = 1, **fields: Any) -> Item:
    """A 国务院办公厅 notice as 中国政府网 lists it. ``n`` numbers its id, URL, guid and title (distinct ``n``:
    distinct items); ``fields`` set any other Item field. The canonical URL and content hash follow the URL
    unless given, so two items with one URL are one document to the store."""
    url = fields.get("url") or f"https://www.gov.cn/zhengce/content/202611/content_70000{n:02d}.htm"
    base: dict[str, Any] = dict(
        id=n, source_id="gwy", guid=f"content_70000{n:02d}", url=url, canonical_url=canonical_url(url),
        title=f"国务院办公厅关于加快构建废弃物循环利用体系的意见（第{n}号）", content=BODY, origin="中国政府网",
        authority="国务院办公厅", detected_at=datetime(2026, 11, 25, 1, 0, tzinfo=UTC),
        content_hash=hashlib.sha256(url.encode()).hexdigest(),
    )
    return Item(**{**base, **fields})


class MemoryKeyValue:
    """In-memory KeyValue with expiry and leases, driven by a clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.data: dict[str, tuple[str, datetime | None]] = {}

    async def get(self, key: str, max_age_s: float = 0) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if value[1] is not None and value[1] <= self.clock.now():
            del self.data[key]
            return None
        return value[0]

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        expires = self.clock.now() + timedelta(seconds=ttl_seconds) if ttl_seconds else None
        self.data[key] = (value, expires)

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.put(key, value, ttl_seconds)
        return True

    async def purge(self, prefix: str) -> int:
        dead = [k for k, (_v, exp) in self.data.items()
                if k.startswith(prefix) and exp is not None and exp <= self.clock.now()]
        for k in dead:
            del self.data[k]
        return len(dead)

    async def lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        current = await self.get(f"lease:{name}")
        if current not in (None, holder):
            return False
        await self.put(f"lease:{name}", holder, ttl_seconds)
        return True

    async def release(self, name: str, holder: str) -> None:
        if await self.get(f"lease:{name}") == holder:
            del self.data[f"lease:{name}"]


class AlertLog:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, str]] = []

    async def __call__(self, account_id: str, message: str) -> None:
        self.alerts.append((account_id, message))


def make_context(session: aiohttp.ClientSession, clock: Clock | None = None) -> ChannelContext:
    clock = clock or FakeClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    return ChannelContext(session=session, kv=MemoryKeyValue(clock), clock=clock, alert=AlertLog())


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago): "connection refused"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
