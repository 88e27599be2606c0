"""A hub dies after writing a static page but before the manifest: after another hub takes the delivery over,
the page is in the manifest, the index and both feeds (the takeover's lookup repairs the manifest, even in a
process that already scanned that directory once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channels.website.static import StaticExportChannel
from channels.website.static_files import MANIFEST, work_dir
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.e2e.test_fenced_claims import shared_store
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units


class Killed(BaseException):
    """The process died here: nothing after it runs, nothing catches it."""


def die_before_the_manifest(hub: Hub) -> None:
    for binding in hub.dispatcher.bindings.values():
        if isinstance(binding.channel, StaticExportChannel):
            def save(*_args: Any) -> None:
                raise Killed
            binding.channel._save = save  # type: ignore[method-assign]


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_page_written_by_a_dead_hub_reaches_manifest_index_and_feeds(dialect: str, serve, tmp_path: Path,
                                                                              clock) -> None:
    state = UpstreamState()
    state.publish("国务院关于静态导出接管测试的通知（一）")
    upstream = await serve(build_upstream(state))
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    site = tmp_path / "site"
    units = webhook_and_site_units(2, receiver, site)
    async with shared_store(dialect, tmp_path) as url:
        def settings(name: str) -> Any:
            (tmp_path / name).mkdir()
            return hub_settings(tmp_path / name, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                                units=units, storage_url=url, instance_id=name)

        async with Hub(settings("hub-a"), clock=clock) as a, Hub(settings("hub-b"), clock=clock) as b:
            await a.beat()
            await a.watcher.poll(a.settings.sources[0])
            await drain(a)                      # the first item: pages and manifests written, directories scanned
            state.publish("国务院关于静态导出接管测试的通知（二）")
            clock.advance(61)
            await a.watcher.poll(a.settings.sources[0])
            die_before_the_manifest(a)
            await drain(a)
            orphans = await a.store.deliveries(states=["sending"])
            assert {d.channel_kind for d in orphans} == {"static"} and len(orphans) == 2
            for d in orphans:                   # the page is there, the manifest does not know it
                root = site / d.unit_id
                assert (root / "articles" / f"{d.idempotency_key}.html").exists()
                assert d.idempotency_key not in (work_dir(root) / MANIFEST).read_text("utf-8")

            clock.advance(a.settings.hub.heartbeat_timeout_seconds + 1)     # A's heartbeat expires
            await b.beat()
            await drain(b)
            assert await b.store.state_counts() == {"delivered": 8}
    for d in orphans:
        root, key = site / d.unit_id, d.idempotency_key
        assert key in {e["key"] for e in json.loads((work_dir(root) / MANIFEST).read_text("utf-8"))}
        assert f"articles/{key}.html" in (root / "index.html").read_text("utf-8")
        assert f"<guid isPermaLink=\"false\">{key}</guid>" in (root / "feed.xml").read_text("utf-8")
        assert key in {i["id"] for i in json.loads((root / "feed.json").read_text("utf-8"))["items"]}
