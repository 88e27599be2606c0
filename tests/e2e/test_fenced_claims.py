"""A hub frozen past its heartbeat (SIGSTOP, a long GC pause, a VM freeze) while another takes its claims over:
when it wakes, nothing it writes changes what the other hub recorded, and it sends nothing more.

The freeze is controlled in-process: hub A's platform calls stop right after the platform received the post
(before the outcome is recorded), and its other claims wait for a send slot, exactly where a SIGSTOP finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.conftest import pg_schema
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units

ROW = "state, delivered_at, external_id, external_url, note, possible_duplicate, claim_gen, claimed_by, updated_at"


@contextlib.asynccontextmanager
async def shared_store(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        async with pg_schema() as url:
            yield url


def count_publishes(hub: Hub, calls: Counter[str], *, freeze: asyncio.Event | None = None,
                    reached: list[str] | None = None) -> None:
    for binding in hub.dispatcher.bindings.values():
        real = binding.channel.publish

        async def publish(item: Any, unit: Any, key: str, real: Any = real) -> Any:
            calls[key] += 1
            receipt = await real(item, unit, key)          # the platform has it now
            if freeze is not None and reached is not None:
                reached.append(key)
                await freeze.wait()                        # frozen before the outcome is recorded
            return receipt

        binding.channel.publish = publish  # type: ignore[method-assign]


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_hub_paused_past_its_heartbeat_changes_nothing_when_it_wakes(
        dialect: str, serve, tmp_path: Path, clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    state = UpstreamState()
    state.publish("国务院关于实例暂停接管测试的通知")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(DEMO_SECRETS["webhook"])
    receiver = await serve(webhook_app)
    units = webhook_and_site_units(3, receiver, tmp_path / "site")
    calls: Counter[str] = Counter()
    async with shared_store(dialect, tmp_path) as url:
        def settings(name: str) -> Any:
            (tmp_path / name).mkdir()
            return hub_settings(tmp_path / name, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                                units=units, storage_url=url, instance_id=name, workers=2, send_timeout_seconds=30,
                                stale_claim_seconds=600)

        async with Hub(settings("hub-a"), clock=clock) as a, Hub(settings("hub-b"), clock=clock) as b:
            await a.watcher.poll(a.settings.sources[0])
            await a.beat()
            await b.beat()
            thaw, reached = asyncio.Event(), []
            count_publishes(a, calls, freeze=thaw, reached=reached)
            count_publishes(b, calls)
            assert await a.dispatcher.dispatch_once() == 4          # 2 sending, 2 claimed ahead for a slot
            for _ in range(200):
                if len(reached) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(reached) == 2, "hub A's two sends did not reach the platform"

            # A is frozen. Its heartbeat expires; B takes its claims over within one stale check and finishes all.
            clock.advance(a.settings.hub.heartbeat_timeout_seconds + 1)
            await b.beat()
            await drain(b)
            assert await b.store.state_counts() == {"delivered": 6}
            before = await b.store.db.fetch(f"SELECT id, {ROW} FROM deliveries ORDER BY id")

            thaw.set()                                              # A wakes up
            await a.dispatcher.wait_idle()
            after = await b.store.db.fetch(f"SELECT id, {ROW} FROM deliveries ORDER BY id")
            attempts_a = await b.store.db.fetch("SELECT outcome FROM attempts WHERE holder = 'hub-a'")

    assert after == before, "a late write of the paused hub changed a delivered row"
    assert sorted(r["outcome"] for r in attempts_a) == ["interrupted"] * 4    # its attempts closed by the takeover
    assert a.dispatcher.claims.fenced == 4                         # 2 late outcomes dropped, 2 sends not made
    assert set(calls.values()) == {1}, f"a post was sent twice: {calls}"
    assert all(v["repeats"] == 0 for v in webhook_app[STORED].values())
    fenced = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fenced")]
    assert len(fenced) == 4, fenced
    assert sum("not sending" in m for m in fenced) == 2
