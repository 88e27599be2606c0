"""JPush vendor channels (issue 14): per-account android.channel_id and options.third_party_channel with the
government-news defaults; the look-alike flags a push a vendor would not show, and refuses out-of-range values."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from core.models import DeliveryState
from sandbox import jpush as jpush_box
from sandbox.common import RECORDER
from tests.channels.wechat.test_platform_errors import APP_KEY, MASTER_SECRET, push_account
from tests.dispatch_support import enqueue, make_rig, settle

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{APP_KEY}:{MASTER_SECRET}".encode()).decode()}
BODY = {"platform": ["android"], "audience": {"tag": ["ezhou_fgw"]}, "notification": {"alert": "通知"}}


@pytest.fixture
async def box(serve) -> tuple[Any, str]:
    app = jpush_box.build_app(apps={APP_KEY: MASTER_SECRET})
    return app, await serve(app)


async def deliver(serve, store, clock, session, **options: Any) -> tuple[Any, Any]:
    app = jpush_box.build_app(apps={APP_KEY: MASTER_SECRET})
    rig = await make_rig(store, clock, session, push_account(await serve(app), **options))
    await enqueue(rig)
    await settle(rig.dispatcher)
    return app, await rig.only()


async def test_classified_push_carries_channel_and_vendor_options(serve, sqlite_store, clock, session) -> None:
    app, d = await deliver(serve, sqlite_store, clock, session, android_channel_id="reprint",
                           third_party_channel={"xiaomi": {"channel_id": "109881"}, "huawei": {"importance": "NORMAL"}})
    assert d.state is DeliveryState.DELIVERED and d.note is None
    (sent,) = app[jpush_box.STATE].pushes
    assert sent["body"]["notification"]["android"]["channel_id"] == "reprint"
    vendors = sent["body"]["options"]["third_party_channel"]
    assert vendors["xiaomi"] == {"channel_id": "109881"}
    assert vendors["huawei"] == {"importance": "NORMAL", "category": "MARKETING"}     # merged over the default
    assert vendors["vivo"] == {"classification": 0, "category": "NEWS"}
    assert app[jpush_box.STATE].unclassified == []


async def test_push_without_xiaomi_channel_is_flagged_and_the_delivery_says_so(
        serve, sqlite_store, clock, session) -> None:
    app, d = await deliver(serve, sqlite_store, clock, session)
    assert d.state is DeliveryState.DELIVERED and "未配置厂商通道消息分类（小米）" in (d.note or "")
    assert [u["vendors"] for u in app[jpush_box.STATE].unclassified] == [["xiaomi"]]
    (entry,) = [e for e in app[RECORDER].entries if e["path"] == jpush_box.PUSH]
    assert entry["unclassified_vendors"] == ["xiaomi"]


async def test_lookalike_flags_every_unclassified_vendor(box, session) -> None:
    app, url = box
    async with session.post(url + jpush_box.PUSH, json=BODY, headers=AUTH) as resp:
        assert resp.status == 200                                   # as JPush: accepted all the same
    assert app[jpush_box.STATE].unclassified[0]["vendors"] == ["xiaomi", "huawei", "honor", "oppo", "vivo"]


@pytest.mark.parametrize("vendors", [{"huawei": {"importance": "URGENT"}}, {"vivo": {"classification": 2}},
                                     {"honor": {"importance": "HIGH"}}, {"oppo": "NEWS"}])
async def test_lookalike_refuses_values_outside_the_vendor_enumerations(box, session, vendors: dict) -> None:
    _app, url = box
    body = {**BODY, "options": {"third_party_channel": vendors}}
    async with session.post(url + jpush_box.PUSH, json=body, headers=AUTH) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == 1003


async def test_validate_checks_without_pushing(box, session) -> None:
    app, url = box
    async with session.post(url + jpush_box.VALIDATE, json=BODY, headers=AUTH) as resp:
        assert resp.status == 200 and "msg_id" in await resp.json()
    async with session.post(url + jpush_box.VALIDATE, json=BODY, headers={"Authorization": "Basic eDp5"}) as resp:
        assert resp.status == 401
    assert app[jpush_box.STATE].pushes == [] and app[jpush_box.STATE].unclassified == []
