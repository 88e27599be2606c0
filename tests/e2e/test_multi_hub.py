"""Two hub processes sharing one PostgreSQL database never send the same delivery twice."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units


@pytest.mark.postgres
async def test_two_hubs_share_the_queue_without_double_sends(serve, tmp_path, clock, pg_schema_url) -> None:
    state = UpstreamState()
    for n in range(3):
        state.publish(f"国务院关于多实例测试的通知（{n}）")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(DEMO_SECRETS["webhook"])
    receiver = await serve(webhook_app)
    units = webhook_and_site_units(30, receiver, tmp_path / "site")

    def settings(name: str):
        return hub_settings(tmp_path / name, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units,
                            storage_url=pg_schema_url, instance_id=name)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with Hub(settings("hub-a"), clock=clock) as a, Hub(settings("hub-b"), clock=clock) as b:
        # both watch the same source: the item and its deliveries are created once
        created = await asyncio.gather(a.watcher.poll(a.settings.sources[0]), b.watcher.poll(b.settings.sources[0]))
        assert sum(created) == 3
        await asyncio.gather(drain(a), drain(b))
        counts = await a.store.state_counts()
        rows = await a.store.db.fetch("SELECT holder, COUNT(*) AS n FROM attempts GROUP BY holder")
    assert counts == {"delivered": 3 * 30 * 2}
    assert len(webhook_app[STORED]) == 90 and all(v["repeats"] == 0 for v in webhook_app[STORED].values())
    holders = {r["holder"]: r["n"] for r in rows}
    assert set(holders) == {"hub-a", "hub-b"} and sum(holders.values()) == 180


@pytest.mark.postgres
async def test_a_surviving_hub_takes_over_stale_sends_of_a_dead_one(serve, tmp_path, clock, pg_schema_url) -> None:
    state = UpstreamState()
    state.publish("国务院关于实例失效接管测试的通知")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(DEMO_SECRETS["webhook"])
    receiver = await serve(webhook_app)
    units = webhook_and_site_units(3, receiver, tmp_path / "site")
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units,
                            storage_url=pg_schema_url, instance_id="hub-b")
    async with Hub(settings, clock=clock) as b:
        await b.watcher.poll(settings.sources[0])
        capacity = {a.id: 5 for _u, a in settings.accounts()}
        dead = await b.store.claim_due(clock.now(), "hub-a", capacity, 100)   # hub-a claims, then dies
        assert len(dead) == 6
        await drain(b)
        assert (await b.store.state_counts()) == {"sending": 6}
        clock.advance(seconds=settings.hub.stale_claim_seconds + 61)
        await drain(b)
        counts = await b.store.state_counts()
    assert counts == {"delivered": 6}
    assert len(webhook_app[STORED]) == 3 and all(v["repeats"] == 0 for v in webhook_app[STORED].values())
