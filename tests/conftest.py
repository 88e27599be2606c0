"""Shared fixtures: clocks, stores on SQLite and (when reachable) PostgreSQL, sandbox servers, fast retries."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.wechat.client import WechatClient
from channels.wechat.media import WechatMedia
from core.clock import FakeClock
from syndicator.store import Store, open_store

PG_URL = os.environ.get("SYNDICATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_reachable() -> bool:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_URL, timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


@pytest.fixture
def clock() -> FakeClock:
    # Wednesday 2026-11-25 10:00 Beijing time
    return FakeClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-call retries without their backoff waits (tests of WeChat faults; use with ``usefixtures``)."""
    monkeypatch.setattr(WechatClient, "RETRY_WAIT_S", 0.0)
    monkeypatch.setattr(WechatMedia, "RETRY_WAIT_S", 0.0)


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not await _pg_reachable():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set SYNDICATOR_TEST_PG); PostgreSQL tests run in CI")
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@pytest.fixture
async def pg_schema_url() -> AsyncIterator[str]:
    async with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, clock: FakeClock, tmp_path) -> AsyncIterator[Store]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'hub.db'}"
        else:
            url = await stack.enter_async_context(pg_schema())
        s = await open_store(url, clock)
        stack.push_async_callback(s.close)
        yield s


@pytest.fixture
async def sqlite_store(clock: FakeClock, tmp_path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite:///{tmp_path / 'hub.db'}", clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an aiohttp app on an ephemeral port; returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
