"""Upstream feed → hub → every unit's webhook and website export, with faults."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest

from channels.webhook import sign, verify_signature
from core.models import DeliveryState
from sandbox.common import FAULTS, RECORDER, Faults
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units


@pytest.fixture
async def world(serve, tmp_path, clock):
    state = UpstreamState()
    upstream_app = build_upstream(state)

    async def not_a_feed(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="<html><body>系统维护中</body></html>", content_type="text/html")

    upstream_app.router.add_get("/broken.xml", not_a_feed)
    webhook_app = build_webhook(DEMO_SECRETS["webhook"])
    upstream = await serve(upstream_app)
    receiver = await serve(webhook_app)

    async def make_hub(n_units: int = 3, *, lookup: bool = True, sources=None, **hub):
        settings = hub_settings(
            tmp_path,
            sources=sources or [rss_source("gwy", f"{upstream}/rss/gwy.xml"),
                                rss_source("province", f"{upstream}/rss/province.xml", origin="湖北省政府网")],
            units=webhook_and_site_units(n_units, receiver, tmp_path / "site", lookup=lookup), **hub)
        return Hub(settings, clock=clock)

    return {"state": state, "upstream": upstream, "receiver": receiver, "webhook_app": webhook_app,
            "upstream_app": upstream_app, "make_hub": make_hub, "tmp": tmp_path}


async def until_stored(webhook_app, n: int) -> None:
    """Wait (bounded) for slow requests the hub gave up on to land at the receiver."""
    for _ in range(100):
        if len(webhook_app[STORED]) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the slow request never reached the receiver")


async def poll_all(hub: Hub) -> int:
    return sum([await hub.watcher.poll(s) for s in hub.watcher.sources()])


async def test_item_reaches_every_units_webhook_and_website(world) -> None:
    world["state"].publish("国务院关于印发《“十五五”数字政府建设规划》的通知", feeds={"gwy"})
    async with await world["make_hub"](3) as hub:
        assert await poll_all(hub) == 1
        await drain(hub)
        assert await hub.store.state_counts() == {"delivered": 6}
    stored = world["webhook_app"][STORED]
    assert sorted(v["unit"] for v in stored.values()) == ["u0", "u1", "u2"]
    received = world["webhook_app"][RECORDER].entries
    body = received[0]["body"]
    assert body["item"]["source_line"] == "转载自 中国政府网"
    assert "原文链接" in body["item"]["content_html"] and body["item"]["url"].startswith(world["upstream"])
    site = world["tmp"] / "site" / "u1"
    pages = list((site / "articles").glob("*.html"))
    assert len(pages) == 1 and "数字政府建设规划" in pages[0].read_text("utf-8")
    assert "数字政府建设规划" in (site / "index.html").read_text("utf-8")
    feed = json.loads((site / "feed.json").read_text("utf-8"))
    assert feed["items"][0]["external_url"].startswith(world["upstream"])
    assert b"<rss" in (site / "feed.xml").read_bytes()


async def test_duplicate_item_from_two_sources_is_delivered_once(world) -> None:
    world["state"].publish("国务院办公厅关于加强政务公开工作的意见", feeds={"gwy", "province"})
    async with await world["make_hub"](2) as hub:
        assert await poll_all(hub) == 1          # the second source finds a duplicate
        await drain(hub)
        assert await poll_all(hub) == 0          # 304 / unchanged next time
        counts = await hub.store.state_counts()
    assert counts == {"delivered": 4}
    assert len(world["webhook_app"][STORED]) == 2
    assert all(v["repeats"] == 0 for v in world["webhook_app"][STORED].values())


async def test_receiver_errors_are_retried_on_schedule_not_lost(world, clock) -> None:
    world["webhook_app"][FAULTS].configure(Faults(script=[500, 503]))
    world["state"].publish("国务院关于进一步做好稳就业工作的通知")
    async with await world["make_hub"](2) as hub:
        await poll_all(hub)
        await drain(hub)
        hooks = await hub.store.deliveries(states=["retrying"])
        assert len(hooks) == 2 and all("HTTP 50" in d.last_error for d in hooks)
        assert all(d.next_attempt_at > clock.now() for d in hooks)
        clock.advance(seconds=11)
        await drain(hub)
        assert await hub.store.state_counts() == {"delivered": 4}


async def test_bad_signature_holds_the_account_and_alerts(world) -> None:
    world["state"].publish("国务院关于印发行动方案的通知")
    hub = await world["make_hub"](1)
    hub.settings.units[0].accounts[0].credentials["secret"] = type(
        hub.settings.units[0].accounts[0].credentials["secret"])("wrong-secret")
    async with hub:
        await poll_all(hub)
        await drain(hub)
        (held,) = await hub.store.deliveries(states=["held"])
        assert held.account_id == "u0-hook" and "密钥" in held.last_error
        states = await hub.store.account_states()
        assert states["u0-hook"][0] == "needs_reauth"
        alerts = await hub.store.recent_alerts()
        assert any("重新授权" in a["message"] for a in alerts)


async def test_receiver_rejection_fails_for_a_person(world) -> None:
    world["webhook_app"][FAULTS].configure(Faults(script=[422]))
    world["state"].publish("国务院关于某事项的批复")
    async with await world["make_hub"](1) as hub:
        await poll_all(hub)
        await drain(hub)
        (failed,) = await hub.store.deliveries(states=["failed"])
        assert "拒收" in failed.last_error


async def test_timeout_is_reconciled_by_lookup_without_a_duplicate(world) -> None:
    world["webhook_app"][FAULTS].configure(Faults(latency_ms=1500))
    world["state"].publish("国务院关于超时场景的通知")
    async with await world["make_hub"](1, send_timeout_seconds=0.5) as hub:
        await poll_all(hub)
        await drain(hub)
        (ambiguous,) = await hub.store.deliveries(states=["retrying"])
        assert ambiguous.ambiguous and "结果不明" in ambiguous.last_error
        await until_stored(world["webhook_app"], 1)
        world["webhook_app"][FAULTS].configure(Faults())
        hub.clock.advance(seconds=60)   # type: ignore[attr-defined]
        await drain(hub)
        (done,) = await hub.store.deliveries(states=["delivered"], account_id="u0-hook")
    # the slow first request did land; the retry asked first and found it
    assert done.note == "核对平台：上次发送已成功" and not done.possible_duplicate
    assert [v["repeats"] for v in world["webhook_app"][STORED].values()] == [0]


async def test_without_lookup_a_blind_resend_is_recorded_as_possible_duplicate(world) -> None:
    world["webhook_app"][FAULTS].configure(Faults(latency_ms=1500))
    world["state"].publish("国务院关于无法核对场景的通知")
    async with await world["make_hub"](1, lookup=False, send_timeout_seconds=0.5) as hub:
        await poll_all(hub)
        await drain(hub)
        await until_stored(world["webhook_app"], 1)
        world["webhook_app"][FAULTS].configure(Faults())
        hub.clock.advance(seconds=60)   # type: ignore[attr-defined]
        await drain(hub)
        (done,) = await hub.store.deliveries(states=["delivered"], account_id="u0-hook")
    assert done.possible_duplicate and "可能重复" in done.note


async def test_unreachable_and_malformed_sources_are_recorded_and_backed_off(world, clock) -> None:
    sources = [rss_source("down", "http://127.0.0.1:9/rss.xml"),
               rss_source("broken", f"{world['upstream']}/broken.xml")]
    async with await world["make_hub"](1, sources=sources) as hub:
        assert await poll_all(hub) == 0
        down = await hub.store.source_health("down")
        broken = await hub.store.source_health("broken")
        assert down.consecutive_errors == 1 and "127.0.0.1:9" in down.last_error
        assert broken.consecutive_errors == 1 and "not an RSS/Atom feed" in broken.last_error
        assert down.next_check_at == clock.now() + timedelta(seconds=60)
        clock.advance(seconds=61)
        await poll_all(hub)
        down = await hub.store.source_health("down")
        assert down.consecutive_errors == 2 and down.next_check_at == clock.now() + timedelta(seconds=120)


async def test_failing_source_alerts_after_threshold_and_on_recovery(world, clock) -> None:
    world["upstream_app"][FAULTS].configure(Faults(script=[500] * 5))
    async with await world["make_hub"](1, sources=[rss_source("gwy", f"{world['upstream']}/rss/gwy.xml")]) as hub:
        hub.settings.fetch.alert_after_seconds = 100
        for _ in range(3):
            await poll_all(hub)
            clock.advance(seconds=200)
        alerts = [a["message"] for a in await hub.store.recent_alerts()]
        assert sum("来源持续失败" in m for m in alerts) == 1
        world["upstream_app"][FAULTS].configure(Faults())
        await poll_all(hub)
        alerts = [a["message"] for a in await hub.store.recent_alerts()]
        assert any("来源恢复正常" in m for m in alerts)
        assert (await hub.store.source_health("gwy")).consecutive_errors == 0


def test_webhook_signature_is_verifiable_by_the_receiver() -> None:
    body = json.dumps({"key": "k", "item": {"title": "国务院通知"}}, ensure_ascii=False).encode()
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and verify_signature("s3cret", body, header)
    assert not verify_signature("s3cret", body + b" ", header)
    assert not verify_signature("other", body, header)
    assert not verify_signature("s3cret", body, None)


async def test_receiver_saw_valid_signatures_only(world) -> None:
    world["state"].publish("国务院关于签名校验的通知")
    async with await world["make_hub"](2) as hub:
        await poll_all(hub)
        await drain(hub)
    outcomes = [e["outcome"] for e in world["webhook_app"][RECORDER].entries]
    assert outcomes == ["stored", "stored"]
    assert all(e["headers"]["idempotency-key"] for e in world["webhook_app"][RECORDER].entries)
    assert DeliveryState.DELIVERED


async def test_hourly_rate_limit_per_account_is_respected(world, clock) -> None:
    for n in range(5):
        world["state"].publish(f"国务院关于限速测试的通知（{n}）")
    hub = await world["make_hub"](1)
    hub.settings.units[0].accounts[0].rate_per_hour = 2
    async with hub:
        await poll_all(hub)
        await drain(hub)
        hook = await hub.store.deliveries(account_id="u0-hook")
        assert sum(d.state == DeliveryState.DELIVERED for d in hook) == 2
        clock.advance(minutes=30)
        await drain(hub)
        assert sum(d.state == DeliveryState.DELIVERED for d in await hub.store.deliveries(account_id="u0-hook")) == 2
        clock.advance(minutes=31)
        await drain(hub)
        hook = await hub.store.deliveries(account_id="u0-hook")
        assert sum(d.state == DeliveryState.DELIVERED for d in hook) == 4
        # deadline order: the earliest-deadline items went first; the site account was never limited
        assert len(await hub.store.deliveries(states=["delivered"], account_id="u0-site")) == 5


async def test_secrets_never_reach_the_logs(world, caplog) -> None:
    import logging

    world["webhook_app"][FAULTS].configure(Faults(script=[401]))
    world["state"].publish("国务院关于日志脱敏测试的通知")
    caplog.set_level(logging.DEBUG)
    async with await world["make_hub"](2) as hub:
        await poll_all(hub)
        await drain(hub)
    assert caplog.records, "the flow logs"
    assert DEMO_SECRETS["webhook"] not in caplog.text
