"""Dispatcher behaviour that spans more than one answer: crash reconciliation of a post still in progress,
hourly limits shared by several hubs on one database, and what an account's rate setting may be."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from channels.base import AccountConfig
from core.models import DeliveryState
from sandbox import wechat as wechat_box
from sandbox import weibo as weibo_box
from sandbox.common import RECORDER
from tests.channels.wechat.test_platform_errors import WEIBO_TOKEN, WX_APPID, WX_SECRET, wechat_account, weibo_account
from tests.dispatch_support import enqueue, hub, make_rig, settle
from tests.fakes import make_item


async def test_wechat_post_still_publishing_after_a_crash_is_confirming_not_delivered(
        serve, sqlite_store, clock, session) -> None:
    app = wechat_box.build_app(appid=WX_APPID, secret=WX_SECRET, publish_delay_s=3600)
    url = await serve(app)
    before = await make_rig(sqlite_store, clock, session, wechat_account(url))
    await enqueue(before)
    # The hub claims the delivery and submits it, then dies before it can record WeChat's answer.
    (claimed,) = await sqlite_store.claim_due(clock.now(), "test-hub", {before.account.id: 1}, 1)
    item = await sqlite_store.get_item(claimed.item_id)
    assert item is not None
    submitted = await before.channel.publish(item, before.unit, claimed.idempotency_key)
    assert submitted.pending

    after = await make_rig(sqlite_store, clock, session, wechat_account(url))   # restart: orphan -> ambiguous
    await settle(after.dispatcher)
    d = await after.only()
    # freepublish/get says publish_status 1 (发布中): not delivered yet, the outcome is still awaited
    assert d.state is DeliveryState.CONFIRMING and d.external_id == submitted.external_id
    assert "核对平台：上次发送已提交" in (d.note or "") and d.delivered_at is None

    app[wechat_box.STATE].jobs[submitted.external_id].ready_at = 0.0          # the job finishes
    clock.advance(seconds=5)
    await settle(after.dispatcher)
    d = await after.only()
    assert d.state is DeliveryState.DELIVERED and d.external_url.startswith("https://mp.weixin.qq.com/s/")
    assert len(app[wechat_box.STATE].jobs) == 1 and not d.possible_duplicate


def _shares(app) -> int:
    return sum(1 for e in app[RECORDER].entries if e["path"] == weibo_box.SHARE)


async def test_hourly_limit_holds_across_hubs_sharing_the_database(serve, store, clock, session) -> None:
    app = weibo_box.build_app(tokens={WEIBO_TOKEN: "ezhou.gov.cn"})
    account = weibo_account(await serve(app)) | {"rate_per_hour": 3, "concurrency": 5}
    a = await make_rig(store, clock, session, account, settings=hub("hub-a"))
    b = await make_rig(store, clock, session, account, settings=hub("hub-b"))   # both running before any send
    await enqueue(a, make_item(1), make_item(2))
    await settle(a.dispatcher)
    assert _shares(app) == 2
    await enqueue(a, make_item(3), make_item(4), make_item(5))
    clock.advance(seconds=5)                           # both hubs re-read account states and recent attempts
    await settle(b.dispatcher)
    await settle(a.dispatcher)
    # 3 an hour for the account, not 3 per hub; hub-a's own two sends are not counted twice
    assert _shares(app) == 3
    assert (await store.state_counts()) == {"delivered": 3, "pending": 2}
    clock.advance(timedelta(hours=1).total_seconds())
    await settle(b.dispatcher)
    await settle(a.dispatcher)
    assert _shares(app) == 5 and (await store.state_counts()) == {"delivered": 5}


def test_rate_per_hour_must_be_positive_or_absent() -> None:
    with pytest.raises(ValidationError):
        AccountConfig(id="wb", kind="weibo", rate_per_hour=0)
    assert AccountConfig(id="wb", kind="weibo", rate_per_hour=5).rate_per_hour == 5
    assert AccountConfig(id="wb", kind="weibo").rate_per_hour is None
