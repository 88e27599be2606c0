"""The store connection drops again and again in the middle of a fan-out, then the store is unreachable for a
while: no loop dies, every delivery is delivered without a restart, each failure is logged at once, and
``/healthz`` says 503 (naming the store) while it is unreachable and 200 again after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.clock import SystemClock
from sandbox.common import Faults
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.conftest import pg_schema
from tests.e2e.test_crash import wait_for as until
from tests.hub_support import hub_settings, rss_source, webhook_and_site_units
from tests.store_faults_support import PgOutage, SqliteOutage

UNITS = 30
ITEMS = 2


@contextlib.asynccontextmanager
async def outage_for(dialect: str, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}", SqliteOutage()
        return
    async with pg_schema() as url, PgOutage(url) as outage:
        yield outage.url, outage


async def health(session: aiohttp.ClientSession, hub: Hub) -> tuple[int, dict[str, Any]]:
    port = hub.web_runner.addresses[0][1]
    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_store_drops_mid_fanout_deliver_everything_without_restart(
        dialect: str, serve, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    state = UpstreamState()
    for n in range(ITEMS):
        state.publish(f"国务院关于数据库断线测试的通知（{n + 1}）")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(DEMO_SECRETS["webhook"], Faults(latency_ms=150))
    receiver = await serve(webhook_app)
    total = UNITS * ITEMS * 2
    async with outage_for(dialect, tmp_path) as (url, outage), aiohttp.ClientSession() as session:
        settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                                units=webhook_and_site_units(UNITS, receiver, tmp_path / "site", concurrency=1),
                                storage_url=url, workers=2, tick_seconds=0.05, retry_base_seconds=0.2,
                                retry_cap_seconds=1)
        async with Hub(settings, clock=SystemClock()) as hub:
            stop = asyncio.Event()
            running = asyncio.create_task(hub.run(stop))
            try:
                async def some_sent() -> bool:
                    return len(webhook_app[STORED]) >= 8
                await until(some_sent, 30, "the fan-out to start")
                dropped = 0
                for _ in range(4):                       # repeated drops mid-fan-out
                    dropped += await outage.drop(hub.store)
                    await asyncio.sleep(0.2)
                assert dropped >= 4
                assert len(webhook_app[STORED]) < UNITS * ITEMS, "the fan-out finished before the drops"

                await outage.down(hub.store)
                down_at = time.monotonic()

                async def reported_down() -> bool:
                    status, body = await health(session, hub)
                    return status == 503 and "store" in body["problems"]
                await until(reported_down, 10, "/healthz to report the store unreachable")
                # a failure is in the log within seconds (the heartbeat beats every 5 s), not at shutdown

                async def logged() -> bool:
                    return any(r.levelno >= logging.ERROR and r.created >= time.time() - 10
                               and any(w in r.getMessage() for w in ("loop", "outcome of delivery",
                                                                     "could not be recorded", "connection lost"))
                               for r in caplog.records)
                await until(logged, 8, "a failure to be logged while the store was unreachable")
                await asyncio.sleep(1.0)
                assert time.monotonic() - down_at < 20
                await outage.up(hub.store)

                async def healthy() -> bool:
                    status, _body = await health(session, hub)
                    return status == 200
                await until(healthy, 15, "/healthz to be healthy again")

                async def all_delivered() -> bool:
                    return (await hub.store.state_counts()).get("delivered", 0) == total
                await until(all_delivered, 90, "every delivery after the outages")
                assert not running.done(), "the hub stopped"
                deliveries = await hub.store.deliveries(limit=10_000)
            finally:
                stop.set()
                await asyncio.wait_for(running, 30)
    stored = webhook_app[STORED]
    hooks = {d.idempotency_key: d for d in deliveries if d.channel_kind == "webhook"}
    assert set(stored) == set(hooks)
    unrecorded = [k for k, v in stored.items() if v["repeats"] and not hooks[k].possible_duplicate]
    assert unrecorded == [], "a resend the hub did not record as a possible duplicate"
    messages = "\n".join(r.getMessage() for r in caplog.records)
    # every loop that failed came back by itself (which loops touch the store during the outage depends on
    # timing: the watcher's schedule is in memory, a dispatcher with every slot busy claims nothing)
    failed_loops = set(re.findall(r"^loop (\S+) failed", messages, re.MULTILINE))
    recovered = set(re.findall(r"^loop (\S+) recovered after", messages, re.MULTILINE))
    assert failed_loops <= recovered, failed_loops - recovered
