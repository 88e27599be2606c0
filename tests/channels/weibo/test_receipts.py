"""Proof kept per attempt outcome: a Weibo post's public URL and Weibo's own publish time (created_at), the
platform's error code of a failed attempt, and why a tracked item was found late (the source's health)."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
from aiohttp.test_utils import TestServer

from channels.weibo.channel import created_at
from core.clock import SHANGHAI, FakeClock
from core.models import SourceHealth
from sandbox.common import FAULTS, Faults
from sandbox.weibo import STATE, build_app
from syndicator.anchors import detection_health
from syndicator.store import Store
from tests.dispatch_support import enqueue, make_rig, settle
from tests.syndicator.test_delays import sh

TOKEN = "tok-receipts"


async def test_a_weibo_delivery_keeps_its_receipts_with_codes_and_platform_time(store: Store) -> None:
    clock = FakeClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    app = build_app(tokens={TOKEN: "ezhou.gov.cn"})
    app[FAULTS].configure(Faults(script=[10002]))                 # the first call fails: Weibo busy
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        rig = await make_rig(store, clock, session, {
            "id": "fgw-weibo", "kind": "weibo", "base_url": str(server.make_url("")).rstrip("/"),
            "credentials": {"access_token": TOKEN},
            "options": {"safe_domain": "ezhou.gov.cn", "rip": "61.183.1.2", "connect_retries": 0,
                        "link_template": "https://www.ezhou.gov.cn/zzbz/{item_id}"}})
        await enqueue(rig)
        await settle(rig.dispatcher)
        clock.advance(3600)
        await settle(rig.dispatcher)
    d = await rig.only()
    assert d.state.value == "delivered" and d.id is not None
    receipts = (await store.receipts([d.id]))[d.id]
    assert [(r["outcome"], r["code"]) for r in receipts] == [("retry", "10002"), ("delivered", None)]
    assert "微博服务暂时不可用" in receipts[0]["body"]["reason"]
    done = receipts[1]
    assert done["url"] == d.external_url and done["external_id"] == d.external_id
    [post] = app[STATE].posts
    assert done["body"]["idstr"] == d.external_id and done["platform_published_at"] is not None
    assert created_at(post) == done["platform_published_at"]
    [proof] = await store.proof_rows(ids=[d.id])
    assert proof["platform_published_at"] == done["platform_published_at"]
    attempts = await store.attempts_of(d.id)
    assert [a["outcome"] for a in attempts] == ["retry", "delivered"]


def test_weibo_created_at() -> None:
    assert created_at({"created_at": "Tue May 31 17:46:55 +0800 2011"}) == datetime(2011, 5, 31, 17, 46, 55,
                                                                                   tzinfo=SHANGHAI)
    assert created_at({"created_at": "yesterday"}) is None and created_at({}) is None


def test_detection_health_names_the_sources_state() -> None:
    pub, found = sh("2026-11-25 11:00"), sh("2026-11-27 09:00")

    def health(**kw: object) -> str:
        return detection_health(pub, found, SourceHealth("gwy", **kw), 300, SHANGHAI).code  # type: ignore[arg-type]

    assert health(failing_since=sh("2026-11-25 10:01"), consecutive_errors=3) == "failing"
    assert health(last_success_at=sh("2026-11-27 08:55"), last_error_at=sh("2026-11-26 10:00")) == "failing"
    empty = detection_health(pub, found, SourceHealth("gwy", last_success_at=sh("2026-11-27 08:55")), 300, SHANGHAI)
    assert empty.code == "empty" and "来源列表当时未列出该稿件（2026-11-27 08:55 抓取成功" in empty.note
    assert health(last_success_at=sh("2026-11-25 10:59")) == "not_running"      # nothing polled for two days
    near = sh("2026-11-25 11:03")
    due = detection_health(pub, near, SourceHealth("gwy", last_success_at=sh("2026-11-25 10:59")), 300, SHANGHAI)
    assert due.code == "not_due" and "间隔 5 分钟" in due.note
    assert health() == "not_running"
