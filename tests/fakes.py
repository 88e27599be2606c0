"""Small in-memory stand-ins shared by the tests."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import aiohttp

from channels.base import ChannelContext
from core.clock import Clock, FakeClock


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
